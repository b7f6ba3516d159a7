/**
 * The Node lower bound: what a hand-written JWS check costs with nothing but node:crypto. Same work as Keyward
 * (header and claims parsed, alg and kid honoured, exp/nbf checked), no abstraction in the way. One native call
 * per signature on a key imported beforehand: createHmac + timingSafeEqual for HS256, crypto.verify with a
 * public KeyObject for EdDSA (null digest) and ES256 ('sha256', raw r||s as `ieee-p1363`). With `hmac: 'js'`
 * the HS256 signature is checked in JavaScript instead (@noble/hashes, keyed once, a copy of the keyed state per
 * token): on a runtime whose node:crypto goes through bindings per digest (Deno) that is the faster lower bound.
 */
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  type JsonWebKey as NodeJsonWebKey,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { KeyEntry } from '../../shared/keyset.ts';
import { publicJwk } from '../../shared/verify-primitive.ts';
import type { BenchSecret } from './fixture.ts';

export type RawResult =
  | { valid: true; kid: string; claims: Record<string, unknown> }
  | { valid: false; error: string };

/** An HS256 secret, or the public JWK of an EdDSA or ES256 key. */
export type RawKeySpec = BenchSecret | { kid: string; alg: 'EdDSA' | 'ES256'; jwk: JsonWebKey };

interface RawKey {
  kid: string;
  alg: string;
  matches: (signingInput: string, signature: Buffer) => boolean;
}

const TOLERANCE_MS = 30_000;
const encoder = new TextEncoder();

/** How the HS256 lower bound computes its HMAC: node:crypto's createHmac, or JavaScript (@noble/hashes). */
export type RawHmac = 'node' | 'js';

function rawKey(spec: RawKeySpec, withHmac: RawHmac): RawKey {
  if ('secret' in spec && withHmac === 'js') {
    // As fast as the library allows: the keyed state copied into one working HMAC, the tag into one buffer.
    const keyed = hmac.create(sha256, encoder.encode(spec.secret));
    const working = keyed.clone();
    const expected = new Uint8Array(32);
    return {
      kid: spec.kid,
      alg: 'HS256',
      matches: (signingInput, signature) => {
        keyed._cloneInto(working);
        working.update(encoder.encode(signingInput));
        working.digestInto(expected);
        return expected.length === signature.length && timingSafeEqual(expected, signature);
      },
    };
  }
  if ('secret' in spec) {
    const key = createSecretKey(Buffer.from(spec.secret, 'utf8'));
    return {
      kid: spec.kid,
      alg: 'HS256',
      matches: (signingInput, signature) => {
        const expected = createHmac('sha256', key).update(signingInput).digest();
        return expected.length === signature.length && timingSafeEqual(expected, signature);
      },
    };
  }
  const key: KeyObject = createPublicKey({ key: spec.jwk as NodeJsonWebKey, format: 'jwk' });
  if (spec.alg === 'ES256') {
    const withEncoding = { key, dsaEncoding: 'ieee-p1363' as const };
    return {
      kid: spec.kid,
      alg: 'ES256',
      matches: (signingInput, signature) =>
        signature.length === 64 &&
        verify('sha256', Buffer.from(signingInput, 'latin1'), withEncoding, signature),
    };
  }
  return {
    kid: spec.kid,
    alg: 'EdDSA',
    matches: (signingInput, signature) =>
      signature.length === 64 && verify(null, Buffer.from(signingInput, 'latin1'), key, signature),
  };
}

/** `keys` newest first: the order tried for a token without kid. */
export function createRawNodeVerifier(
  keys: readonly RawKeySpec[],
  withHmac: RawHmac = 'node',
): (token: string) => RawResult {
  const raw = keys.map((spec) => rawKey(spec, withHmac));
  const byKid = new Map(raw.map((key) => [key.kid, key]));
  return (token) => {
    const dot1 = token.indexOf('.');
    const dot2 = token.indexOf('.', dot1 + 1);
    if (dot1 < 0 || dot2 < 0) return { valid: false, error: 'token_malformed' };
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString());
      claims = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString());
    } catch {
      return { valid: false, error: 'token_malformed' };
    }
    const signingInput = token.slice(0, dot2);
    const signature = Buffer.from(token.slice(dot2 + 1), 'base64url');
    let used: RawKey | undefined;
    if (typeof header.kid === 'string') {
      used = byKid.get(header.kid);
      if (used === undefined) return { valid: false, error: 'key_unknown' };
      if (header.alg !== used.alg) return { valid: false, error: 'algorithm_not_allowed' };
      if (!used.matches(signingInput, signature)) return { valid: false, error: 'signature_invalid' };
    } else {
      used = raw.find((key) => key.alg === header.alg && key.matches(signingInput, signature));
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

/** The raw specs of a keyset's asymmetric keys (their public members only). */
export function rawSpecsOf(keys: readonly KeyEntry[]): RawKeySpec[] {
  return keys.flatMap((entry): RawKeySpec[] =>
    entry.alg === 'HS256' ? [] : [{ kid: entry.kid, alg: entry.alg, jwk: publicJwk(entry) }],
  );
}
