/**
 * JOSE objects made by hand with node:crypto, sharing no code with jose or shared/: tokens with any header
 * (signed synchronously, so a fuzz run signs thousands per second) and JWE compact envelopes with any header
 * and any plaintext bytes, sealed `dir` + AES-256-GCM the way RFC 7516 section 5.1 says.
 */
import {
  createCipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
} from 'node:crypto';
import { createEdge, type Edge } from '../../edge/src/create-edge.ts';
import type { EdgeEnv } from '../../edge/src/env.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';

export function b64url(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url');
}

export function b64json(value: unknown): string {
  return b64url(JSON.stringify(value));
}

/** An HMAC-signed JWS compact token with exactly this header and these claims (`hash`: sha256/384/512). */
export function signHs(secret: string, header: unknown, claims: unknown, hash = 'sha256'): string {
  const input = `${b64json(header)}.${b64json(claims)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

/**
 * A JWE compact serialization sealed with AES-256-GCM under `key`: the protected header is taken as given
 * (an object is JSON-encoded, a string is used as the encoded segment itself), the AAD is its ASCII.
 */
export function sealRaw(
  key: Uint8Array,
  header: object | string,
  plaintext: Uint8Array | string,
  iv: Uint8Array = randomBytes(12),
): string {
  const protectedSegment = typeof header === 'string' ? header : b64json(header);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(protectedSegment, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${protectedSegment}..${b64url(iv)}.${b64url(ciphertext)}.${b64url(cipher.getAuthTag())}`;
}

export interface FuzzEdge {
  edge: Edge;
  /** Every line the edge logged. */
  logs: string[];
}

/** A real edge with the Node HMAC primitive (what edge/src/runtime/node.ts wires), clock injected. */
export function fuzzEdge(env: EdgeEnv, now: () => number): FuzzEdge {
  const logs: string[] = [];
  const edge = createEdge({ env, now, primitive: nodeVerify, log: (line) => logs.push(line) });
  return { edge, logs };
}

/**
 * A signed keyset manifest (SPEC section 9) made with node:crypto from the 32-byte seed, sharing no code with
 * shared/: `header` replaces the protected header when given.
 */
export function signManifestByHand(payload: Uint8Array | string, seed: Uint8Array, header?: object): string {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string;
  const kid = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
  const input = `${b64json(header ?? { alg: 'EdDSA', typ: 'keyward-keyset+jws', kid })}.${b64url(Buffer.from(payload))}`;
  return `${input}.${b64url(sign(null, Buffer.from(input), privateKey))}`;
}
