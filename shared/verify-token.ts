/**
 * JWT (JWS compact, HMAC) verification against a KeyRing: one code path for every runtime, the HMAC primitive
 * injected. Order as in the seed: the token's kid first; without kid the active key, then previous keys.
 */
import { decodeBase64url, decodeBase64urlText } from './base64url.ts';
import type { JwsHmacAlg } from './hmac.ts';
import type { KeyRing, RingKey } from './key-ring.ts';

export type VerifyErrorCode =
  | 'token_missing'
  | 'token_malformed'
  | 'token_too_large'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'signature_invalid'
  | 'key_unknown'
  | 'algorithm_not_allowed'
  | 'claim_invalid';

export type JwtClaims = Record<string, unknown>;

export type VerifyResult =
  | { valid: true; kid: string; claims: JwtClaims; header: Record<string, unknown> }
  | { valid: false; error: VerifyErrorCode };

export interface VerifyOptions {
  algorithms: readonly JwsHmacAlg[];
  issuer?: string;
  audience?: string;
  clockToleranceMs: number;
  maxTokenBytes: number;
  now: () => number;
}

export const SUPPORTED_ALGORITHMS: readonly JwsHmacAlg[] = ['HS256', 'HS384', 'HS512'];
export const DEFAULT_MAX_TOKEN_BYTES = 8 * 1024;

// Header parameters that would let the token choose its own key or change how it is read; we honour none.
const FORBIDDEN_HEADERS = ['crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'];

const fail = (error: VerifyErrorCode): VerifyResult => ({ valid: false, error });

export async function verifyToken(
  token: string,
  ring: KeyRing,
  options: VerifyOptions,
): Promise<VerifyResult> {
  if (token.length === 0) return fail('token_missing');
  if (token.length > options.maxTokenBytes) return fail('token_too_large');
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return fail('token_malformed');

  const header = decodeJsonObject(token.slice(0, dot1));
  if (header === undefined) return fail('token_malformed');
  const alg = header.alg;
  if (typeof alg !== 'string') return fail('token_malformed');
  // `none` never, whatever the options say; nor an algorithm the ring holds no imported keys for.
  if (
    alg === 'none' ||
    !(options.algorithms as readonly string[]).includes(alg) ||
    !ring.algorithms.has(alg)
  ) {
    return fail('algorithm_not_allowed');
  }
  for (const name of FORBIDDEN_HEADERS) if (name in header) return fail('token_malformed');
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return fail('token_malformed');

  const claims = decodeJsonObject(token.slice(dot1 + 1, dot2));
  if (claims === undefined) return fail('token_malformed');
  const signature = decodeBase64url(token.slice(dot2 + 1));
  if (signature === undefined) return fail('token_malformed');

  const now = options.now();
  const signingInput = token.slice(0, dot2);
  const hmacAlg = alg as JwsHmacAlg;
  let used: RingKey | undefined;
  if (kid !== undefined) {
    const key = ring.byKid.get(kid);
    if (key === undefined || now >= key.expiresAt) return fail('key_unknown');
    if (!(await ring.primitive.verify(key.keys[hmacAlg], signingInput, signature)))
      return fail('signature_invalid');
    used = key;
  } else {
    for (const key of ring.ordered) {
      if (now >= key.expiresAt) continue;
      if (await ring.primitive.verify(key.keys[hmacAlg], signingInput, signature)) {
        used = key;
        break;
      }
    }
    if (used === undefined) return fail('signature_invalid');
  }

  const claimError = checkClaims(claims, now, options);
  if (claimError) return fail(claimError);
  return { valid: true, kid: used.kid, claims, header };
}

function checkClaims(claims: JwtClaims, now: number, options: VerifyOptions): VerifyErrorCode | undefined {
  const { exp, nbf, iss, aud } = claims;
  const tolerance = options.clockToleranceMs;
  if (exp !== undefined) {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'claim_invalid';
    if (now >= exp * 1000 + tolerance) return 'token_expired';
  }
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) return 'claim_invalid';
    if (now < nbf * 1000 - tolerance) return 'token_not_yet_valid';
  }
  if (options.issuer !== undefined && iss !== options.issuer) return 'claim_invalid';
  if (options.audience !== undefined) {
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(options.audience)) return 'claim_invalid';
  }
  return undefined;
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  const text = decodeBase64urlText(segment);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
