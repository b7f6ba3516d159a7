/**
 * The synchronous node:crypto verify primitive: no thread-pool hop, keys imported once. HMAC compares in constant
 * time; ES256 takes the JWS form of the signature (IEEE P1363, raw r||s), never DER.
 */
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  hash,
  type KeyObject,
  type JsonWebKey as NodeJsonWebKey,
  timingSafeEqual,
  verify as verifySignature,
} from 'node:crypto';
import { decodeBase64url } from '../base64url.ts';
import { publicJwk, type VerifyPrimitive } from '../verify-primitive.ts';
import { nodeEnvelopeCrypto } from './node-envelope.ts';

type NodeKey =
  | { alg: 'HS256'; mac: (signingInput: string) => Uint8Array }
  | { alg: 'ES256'; key: { key: KeyObject; dsaEncoding: 'ieee-p1363' } }
  | { alg: 'EdDSA'; key: KeyObject };

export const nodeVerify: VerifyPrimitive<NodeKey> = {
  name: 'node:crypto',
  envelope: nodeEnvelopeCrypto,
  importKey(entry) {
    if (entry.alg === 'HS256') {
      return { alg: 'HS256', mac: hmacSha256(decodeBase64url(entry.k) as Uint8Array) };
    }
    const key = createPublicKey({ key: publicJwk(entry) as NodeJsonWebKey, format: 'jwk' });
    if (entry.alg === 'ES256') return { alg: 'ES256', key: { key, dsaEncoding: 'ieee-p1363' } };
    return { alg: 'EdDSA', key };
  },
  verify(imported, signingInput, signature) {
    if (imported.alg === 'HS256') {
      const expected = imported.mac(signingInput);
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    }
    const data = Buffer.from(signingInput, 'latin1');
    if (imported.alg === 'ES256') return verifySignature('sha256', data, imported.key, signature);
    return verifySignature(null, data, imported.key, signature);
  },
};

/** SHA-256's block size, in bytes (RFC 2104's B). */
const BLOCK = 64;
/** The largest signing input, in UTF-8 bytes, the one-shot HMAC takes; longer ones go through createHmac. */
const SCRATCH_INPUT_BYTES = 16 * 1024;
/** Where the inner hash's input is put together: the key's inner pad, then the signing input. */
const scratch = Buffer.alloc(BLOCK + SCRATCH_INPUT_BYTES);

/**
 * HMAC-SHA256 under `secret` (RFC 2104), as two one-shot SHA-256 digests (`crypto.hash`, which Node 22, Bun and
 * Deno have) over the key's pads computed once here: createHmac sets up an HMAC object, fetches the digest and
 * keys it on every call, which in a server whose caches the network work keeps cold costs several times the two
 * digests (`npm run bench`, case http). Same bytes as createHmac (shared/runtime/node-verify.test.ts); createHmac
 * for inputs longer than the scratch buffer. Synchronous and not reentrant: each call fills the module's scratch
 * buffer and is done with it before returning.
 */
export function hmacSha256(secret: Uint8Array): (input: string) => Uint8Array {
  let longInputKey: KeyObject | undefined;
  // A key longer than a block is hashed first; a shorter one is zero-padded to the block.
  const key = secret.length > BLOCK ? hash('sha256', secret, 'buffer') : secret;
  const innerPad = Buffer.alloc(BLOCK, 0x36);
  const outer = Buffer.alloc(BLOCK + 32, 0x5c);
  for (let i = 0; i < key.length; i++) {
    innerPad[i] = (innerPad[i] as number) ^ (key[i] as number);
    outer[i] = (outer[i] as number) ^ (key[i] as number);
  }
  return (input) => {
    // Three UTF-8 bytes at most per UTF-16 unit: a string this short always fits.
    if (input.length * 3 > SCRATCH_INPUT_BYTES) {
      longInputKey ??= createSecretKey(secret);
      return createHmac('sha256', longInputKey).update(input).digest();
    }
    innerPad.copy(scratch, 0);
    const written = scratch.write(input, BLOCK, 'utf8');
    hash('sha256', scratch.subarray(0, BLOCK + written), 'buffer').copy(outer, BLOCK);
    return hash('sha256', outer, 'buffer');
  };
}
