/**
 * An independent verifier for the fuzz oracle: SPEC section 6's rules for HMAC JWTs written again with
 * node:crypto and Buffer, sharing no code with shared/. Given a token, the keys and the options, it says what
 * Keyward must answer: valid with this kid, claims and header, or exactly which error code. Where a token breaks
 * several rules, the first broken rule in this order names the error: size, shape, header, algorithm, header
 * parameters, kid type, claims shape, signature encoding, key, signature, exp, nbf, iss, aud.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface ReferenceKey {
  secret: string;
  kid: string;
  /** Epoch ms from which the key no longer verifies; Infinity for the active key. */
  expiresAt: number;
}

export interface ReferenceOptions {
  /** Algorithms both allowed by configuration and imported: anything else is `algorithm_not_allowed`. */
  algorithms: readonly string[];
  issuer?: string;
  audience?: string;
  clockToleranceMs: number;
  maxTokenBytes: number;
  now: number;
}

export type ReferenceResult =
  | { valid: true; kid: string; claims: Record<string, unknown>; header: Record<string, unknown> }
  | { valid: false; error: string };

const HASH: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };
const KEY_CHOOSING_HEADERS = ['crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'];
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The RFC 7638 thumbprint of an HMAC secret (SPEC section 5), computed with node:crypto alone. */
export function referenceKid(secret: string): string {
  const jwk = `{"k":"${Buffer.from(secret, 'utf8').toString('base64url')}","kty":"oct"}`;
  return createHash('sha256').update(jwk).digest('base64url');
}

/** Canonical unpadded base64url only: what decodes and encodes back to itself, nothing else. */
function strictBase64url(segment: string): Buffer | undefined {
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

function jsonObject(segment: string): Record<string, unknown> | undefined {
  const bytes = strictBase64url(segment);
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function signs(key: ReferenceKey, hash: string, signingInput: string, signature: Buffer): boolean {
  const expected = createHmac(hash, Buffer.from(key.secret, 'utf8')).update(signingInput).digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

/** What Keyward must answer for `token` given `keys` (active first, then previous keys, newest first). */
export function referenceVerify(
  token: string,
  keys: readonly ReferenceKey[],
  options: ReferenceOptions,
): ReferenceResult {
  const fail = (error: string): ReferenceResult => ({ valid: false, error });
  if (token === '') return fail('token_missing');
  if (token.length > options.maxTokenBytes) return fail('token_too_large');
  const parts = token.split('.');
  if (parts.length !== 3) return fail('token_malformed');
  const [headerSegment, claimsSegment, signatureSegment] = parts as [string, string, string];

  const header = jsonObject(headerSegment);
  if (header === undefined || typeof header.alg !== 'string') return fail('token_malformed');
  const alg = header.alg;
  if (alg === 'none' || !options.algorithms.includes(alg)) return fail('algorithm_not_allowed');
  if (KEY_CHOOSING_HEADERS.some((name) => name in header)) return fail('token_malformed');
  if (header.kid !== undefined && typeof header.kid !== 'string') return fail('token_malformed');
  const claims = jsonObject(claimsSegment);
  if (claims === undefined) return fail('token_malformed');
  const signature = strictBase64url(signatureSegment);
  if (signature === undefined) return fail('token_malformed');

  const hash = HASH[alg] as string;
  const signingInput = `${headerSegment}.${claimsSegment}`;
  const inGrace = (key: ReferenceKey) => options.now < key.expiresAt;
  let signer: ReferenceKey | undefined;
  if (typeof header.kid === 'string') {
    const named = keys.find((key) => key.kid === header.kid);
    if (named === undefined || !inGrace(named)) return fail('key_unknown');
    if (!signs(named, hash, signingInput, signature)) return fail('signature_invalid');
    signer = named;
  } else {
    signer = keys.find((key) => inGrace(key) && signs(key, hash, signingInput, signature));
    if (signer === undefined) return fail('signature_invalid');
  }

  const { exp, nbf, iss, aud } = claims;
  const tolerance = options.clockToleranceMs;
  if (exp !== undefined) {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return fail('claim_invalid');
    if (options.now >= exp * 1000 + tolerance) return fail('token_expired');
  }
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) return fail('claim_invalid');
    if (options.now < nbf * 1000 - tolerance) return fail('token_not_yet_valid');
  }
  if (options.issuer !== undefined && iss !== options.issuer) return fail('claim_invalid');
  if (options.audience !== undefined) {
    const matches = aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience));
    if (!matches) return fail('claim_invalid');
  }
  return { valid: true, kid: signer.kid, claims, header };
}
