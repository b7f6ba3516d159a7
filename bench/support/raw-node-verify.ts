/**
 * The Node lower bound: what a hand-written HS256 check costs with nothing but node:crypto. Same work as
 * Keyward (header and claims parsed, alg and kid honoured, exp/nbf checked), no abstraction in the way.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { BenchSecret } from './fixture.ts';

export type RawResult =
  | { valid: true; kid: string; claims: Record<string, unknown> }
  | { valid: false; error: string };

interface RawKey {
  kid: string;
  key: KeyObject;
}

const TOLERANCE_MS = 30_000;

/** `secrets` newest first: the order tried for a token without kid. */
export function createRawNodeVerifier(secrets: readonly BenchSecret[]): (token: string) => RawResult {
  const keys: RawKey[] = secrets.map(({ kid, secret }) => ({
    kid,
    key: createSecretKey(Buffer.from(secret, 'utf8')),
  }));
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  const matches = (key: KeyObject, signingInput: string, signature: Buffer) => {
    const expected = createHmac('sha256', key).update(signingInput).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  };
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
    if (header.alg !== 'HS256') return { valid: false, error: 'algorithm_not_allowed' };
    const signingInput = token.slice(0, dot2);
    const signature = Buffer.from(token.slice(dot2 + 1), 'base64url');
    let used: RawKey | undefined;
    if (typeof header.kid === 'string') {
      used = byKid.get(header.kid);
      if (used === undefined) return { valid: false, error: 'key_unknown' };
      if (!matches(used.key, signingInput, signature)) return { valid: false, error: 'signature_invalid' };
    } else {
      used = keys.find((key) => matches(key.key, signingInput, signature));
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
