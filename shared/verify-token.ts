/**
 * JWT (JWS compact: HS256, ES256, EdDSA) verification against a KeyRing: one code path for every runtime, the
 * primitive injected. Each key verifies only its own algorithm (RFC 8725 section 3.1). Order as in the seed:
 * the token's kid first; without kid the keys of the header's algorithm, active first, then standby, then
 * previous keys.
 */
import { decodeBase64url } from './base64url.ts';
import { parseJoseSegment } from './jose-segment.ts';
import type { KeyRing, RingKey } from './key-ring.ts';
import type { JwsAlg } from './verify-primitive.ts';

export type VerifyErrorCode =
  | 'token_missing'
  | 'token_malformed'
  | 'token_too_large'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'signature_invalid'
  | 'key_unknown'
  | 'algorithm_not_allowed'
  | 'claim_invalid'
  /** Valid, but revoked (SPEC section 8, RevokeTokens): decided by the edge's revocation set, not here. */
  | 'token_revoked';

export type JwtClaims = Record<string, unknown>;

export type VerifyResult =
  | { valid: true; kid: string; claims: JwtClaims; header: Record<string, unknown> }
  | { valid: false; error: VerifyErrorCode };

export interface VerifyOptions {
  algorithms: readonly JwsAlg[];
  issuer?: string;
  audience?: string;
  clockToleranceMs: number;
  maxTokenBytes: number;
  now: () => number;
}

export const SUPPORTED_ALGORITHMS: readonly JwsAlg[] = ['HS256', 'ES256', 'EdDSA'];

/** Signature length per algorithm where JWS fixes it: ES256 is raw r||s (RFC 7518 section 3.4), never DER. */
const SIGNATURE_BYTES: Partial<Record<string, number>> = { ES256: 64, EdDSA: 64 };
export const DEFAULT_MAX_TOKEN_BYTES = 8 * 1024;

// Header parameters that would let the token choose its own key or change how it is read; we honour none.
const FORBIDDEN_HEADERS = ['crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'];

const fail = (error: VerifyErrorCode): VerifyResult => ({ valid: false, error });

/** The candidates of a token without kid whose algorithm the ring holds no key of. */
const NO_KEYS: readonly RingKey[] = Object.freeze([]);

/** A token taken apart and checked up to (not including) its signature. */
interface ParsedToken {
  alg: JwsAlg;
  kid: string | undefined;
  header: Record<string, unknown>;
  claims: JwtClaims;
  signingInput: string;
  signature: Uint8Array;
}

/**
 * Verifies `token` against `ring`. Synchronous when the ring's primitive is (node:crypto), a promise when it
 * is not (WebCrypto): one code path, and no microtask per verify on Node. `await` works on both.
 */
export function verifyToken(
  token: string,
  ring: KeyRing,
  options: VerifyOptions,
): VerifyResult | Promise<VerifyResult> {
  const parsed = parseToken(token, options);
  if ('valid' in parsed) return parsed;
  const now = options.now();
  if (parsed.kid === undefined) {
    return tryKeys(parsed, ring.byAlg.get(parsed.alg) ?? NO_KEYS, ring, 0, now, options);
  }
  const key = ring.byKid.get(parsed.kid);
  if (key === undefined || now >= key.expiresAt) return fail('key_unknown');
  // The key decides the algorithm, never the token: an ES256 public key is no HMAC secret, and so on. A key of
  // an algorithm the ring was not prepared for is never verified with.
  if (key.alg !== parsed.alg || key.key === undefined) return fail('algorithm_not_allowed');
  const matched = ring.primitive.verify(key.key, parsed.signingInput, parsed.signature);
  return typeof matched === 'boolean'
    ? finish(matched ? key : undefined, parsed, now, options)
    : matched.then((ok) => finish(ok ? key : undefined, parsed, now, options));
}

function parseToken(token: string, options: VerifyOptions): ParsedToken | VerifyResult {
  if (token.length === 0) return fail('token_missing');
  if (token.length > options.maxTokenBytes) return fail('token_too_large');
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return fail('token_malformed');

  const read = readHeader(token.slice(0, dot1));
  if (read === undefined) return fail('token_malformed');
  const { header, alg, kid } = read;
  // `none` never, whatever the options say. Whether the ring holds a key of this algorithm is no part of it: a
  // kid the ring lacks is `key_unknown` (the edge then pulls, it may be a rotation not seen yet), and a token
  // without kid has no key to match its signature (SPEC sections 6 and 8).
  if (alg === 'none' || !(options.algorithms as readonly string[]).includes(alg)) {
    return fail('algorithm_not_allowed');
  }
  if (read.forbidden) return fail('token_malformed');
  if (kid !== undefined && typeof kid !== 'string') return fail('token_malformed');

  const claims = parseJoseSegment(token.slice(dot1 + 1, dot2));
  if (claims === undefined) return fail('token_malformed');
  const signature = decodeBase64url(token.slice(dot2 + 1));
  if (signature === undefined) return fail('token_malformed');
  const length = SIGNATURE_BYTES[alg];
  if (length !== undefined && signature.length !== length) return fail('token_malformed');
  return { alg: alg as JwsAlg, kid, header, claims, signingInput: token.slice(0, dot2), signature };
}

/** What a header segment says, as far as it depends on the segment alone. */
interface ReadHeader {
  header: Record<string, unknown>;
  alg: string;
  kid: unknown;
  /** It carries a parameter we honour none of (FORBIDDEN_HEADERS). */
  forbidden: boolean;
}

/**
 * Header segments read lately, by their text: the tokens of one issuer share a handful of headers (one per kid),
 * so a verify skips the base64url decode and JSON parse of its header (a segment is one string for one header,
 * base64url being strict). Bounded in entries and segment length, and emptied when full, so headers an attacker
 * makes up cost a clear now and then, never memory. The verdicts never depend on it: the same segment is read
 * the same way either way; only the checks against the ring and the options, done per token, may differ.
 */
const HEADER_MEMO = new Map<string, ReadHeader | undefined>();
const HEADER_MEMO_ENTRIES = 64;
const HEADER_MEMO_SEGMENT_CHARS = 512;

/** The segment read (cached when small), or undefined when it is no JOSE header with a string alg. */
function readHeader(segment: string): ReadHeader | undefined {
  const memo = HEADER_MEMO.get(segment);
  if (memo !== undefined || HEADER_MEMO.has(segment)) return memo;
  const read = parseHeader(segment);
  if (segment.length <= HEADER_MEMO_SEGMENT_CHARS) {
    if (HEADER_MEMO.size >= HEADER_MEMO_ENTRIES) HEADER_MEMO.clear();
    HEADER_MEMO.set(segment, read);
  }
  return read;
}

function parseHeader(segment: string): ReadHeader | undefined {
  const header = parseJoseSegment(segment);
  if (header === undefined) return undefined;
  const { alg, kid } = header;
  if (typeof alg !== 'string') return undefined;
  const forbidden = FORBIDDEN_HEADERS.some((name) => name in header);
  // Shared by every token with this header: nobody may change it under the others.
  return { header: deepFreeze(header), alg, kid, forbidden };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/** A token without kid: the keys of its algorithm still valid, in `candidates` order from `from` on. */
function tryKeys(
  parsed: ParsedToken,
  candidates: readonly RingKey[],
  ring: KeyRing,
  from: number,
  now: number,
  options: VerifyOptions,
): VerifyResult | Promise<VerifyResult> {
  for (let i = from; i < candidates.length; i++) {
    const key = candidates[i] as RingKey;
    if (now >= key.expiresAt) continue;
    const matched = ring.primitive.verify(key.key, parsed.signingInput, parsed.signature);
    if (typeof matched !== 'boolean') {
      return matched.then((ok) =>
        ok ? finish(key, parsed, now, options) : tryKeys(parsed, candidates, ring, i + 1, now, options),
      );
    }
    if (matched) return finish(key, parsed, now, options);
  }
  return fail('signature_invalid');
}

function finish(
  used: RingKey | undefined,
  parsed: ParsedToken,
  now: number,
  options: VerifyOptions,
): VerifyResult {
  if (used === undefined) return fail('signature_invalid');
  const claimError = checkClaims(parsed.claims, now, options);
  if (claimError) return fail(claimError);
  return { valid: true, kid: used.kid, claims: parsed.claims, header: parsed.header };
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
