/**
 * The WebCrypto lower bound, portable to every runtime: the same hand-written JWS check as raw-node-verify.ts
 * (header and claims parsed, alg and kid honoured, exp/nbf checked) with one crypto.subtle.verify per signature
 * on a key imported beforehand, and the plainest base64url decoding the platform has.
 */
import type { RawKeySpec, RawResult } from './raw-node-verify.ts';

interface RawWebKey {
  kid: string;
  alg: string;
  key: CryptoKey;
  params: AlgorithmIdentifier | EcdsaParams;
}

const TOLERANCE_MS = 30_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const fromBase64 = (Uint8Array as unknown as { fromBase64?: (text: string, options: object) => Uint8Array })
  .fromBase64;

/** Uint8Array.fromBase64 where the runtime has it, else atob. */
export function bytesOfBase64url(segment: string): Uint8Array<ArrayBuffer> {
  if (fromBase64 !== undefined)
    return fromBase64(segment, { alphabet: 'base64url' }) as Uint8Array<ArrayBuffer>;
  const binary = atob(segment.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function importRaw(spec: RawKeySpec): Promise<RawWebKey> {
  if ('secret' in spec) {
    const key = await crypto.subtle.importKey(
      'raw',
      encoder.encode(spec.secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    return { kid: spec.kid, alg: 'HS256', key, params: 'HMAC' };
  }
  if (spec.alg === 'ES256') {
    const key = await crypto.subtle.importKey(
      'jwk',
      spec.jwk,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    return { kid: spec.kid, alg: 'ES256', key, params: { name: 'ECDSA', hash: 'SHA-256' } };
  }
  const key = await crypto.subtle.importKey('jwk', spec.jwk, { name: 'Ed25519' }, false, ['verify']);
  return { kid: spec.kid, alg: 'EdDSA', key, params: 'Ed25519' };
}

/** `keys` newest first: the order tried for a token without kid. */
export async function createRawWebVerifier(
  keys: readonly RawKeySpec[],
): Promise<(token: string) => Promise<RawResult>> {
  const raw = await Promise.all(keys.map(importRaw));
  const byKid = new Map(raw.map((key) => [key.kid, key]));
  const matches = (key: RawWebKey, signature: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>) =>
    (key.alg === 'HS256' || signature.byteLength === 64) &&
    crypto.subtle.verify(key.params, key.key, signature, data);
  return async (token) => {
    const dot1 = token.indexOf('.');
    const dot2 = token.indexOf('.', dot1 + 1);
    if (dot1 < 0 || dot2 < 0) return { valid: false, error: 'token_malformed' };
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(decoder.decode(bytesOfBase64url(token.slice(0, dot1))));
      claims = JSON.parse(decoder.decode(bytesOfBase64url(token.slice(dot1 + 1, dot2))));
    } catch {
      return { valid: false, error: 'token_malformed' };
    }
    const data = encoder.encode(token.slice(0, dot2));
    const signature = bytesOfBase64url(token.slice(dot2 + 1));
    let used: RawWebKey | undefined;
    if (typeof header.kid === 'string') {
      used = byKid.get(header.kid);
      if (used === undefined) return { valid: false, error: 'key_unknown' };
      if (header.alg !== used.alg) return { valid: false, error: 'algorithm_not_allowed' };
      if (!(await matches(used, signature, data))) return { valid: false, error: 'signature_invalid' };
    } else {
      used = undefined;
      for (const key of raw) {
        if (key.alg === header.alg && (await matches(key, signature, data))) {
          used = key;
          break;
        }
      }
      if (used === undefined) return { valid: false, error: 'signature_invalid' };
    }
    const now = Date.now();
    if (typeof claims.exp === 'number' && now >= claims.exp * 1000 + TOLERANCE_MS) {
      return { valid: false, error: 'token_expired' };
    }
    if (typeof claims.nbf === 'number' && now < claims.nbf * 1000 - TOLERANCE_MS) {
      return { valid: false, error: 'token_not_yet_valid' };
    }
    return { valid: true, kid: used.kid, claims };
  };
}
