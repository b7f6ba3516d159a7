/**
 * An independent verifier for the fuzz oracle: SPEC sections 6 and 8 written again with node:crypto and Buffer,
 * sharing no code with shared/ (public keys are imported from SubjectPublicKeyInfo DER built here by hand, ES256
 * signatures are checked in DER form converted here from r||s). Given a token, the keys and the options, it says
 * what Keyward must answer: valid with this kid, claims and header, or exactly which error code. Each key verifies
 * only its own algorithm (RFC 8725 section 3.1). Where a token breaks several rules, the first broken rule in this
 * order names the error: size, shape, header, algorithm, header parameters, kid type, claims shape, signature
 * encoding (and length for ES256 and EdDSA), key, key algorithm, signature, exp, nbf, iss, aud.
 */
import {
  createHash,
  createHmac,
  createPublicKey,
  type KeyObject,
  timingSafeEqual,
  verify as verifySignature,
} from 'node:crypto';

export type ReferenceAlg = 'HS256' | 'ES256' | 'EdDSA';

interface ReferenceKeyBase {
  kid: string;
  /** Epoch ms from which the key no longer verifies; Infinity for the active and standby keys. */
  expiresAt: number;
}

/** An HS256 key (its secret text) or a public key (its JWK members, base64url). */
export type ReferenceKey =
  | (ReferenceKeyBase & { alg?: 'HS256'; secret: string })
  | (ReferenceKeyBase & { alg: 'ES256'; x: string; y: string })
  | (ReferenceKeyBase & { alg: 'EdDSA'; x: string });

export interface ReferenceOptions {
  /** Algorithms allowed by configuration (JWT_ALGORITHMS), whether or not the keys hold one of them. */
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

const KEY_CHOOSING_HEADERS = ['crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'];
/** JWS fixes these signature lengths: ES256 is r||s of 32 bytes each, Ed25519 is R||S of 32 bytes each. */
const FIXED_SIGNATURE_BYTES: Record<string, number> = { ES256: 64, EdDSA: 64 };
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** SPKI DER prefixes (RFC 5480 for id-ecPublicKey + prime256v1 uncompressed, RFC 8410 for id-Ed25519). */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The RFC 7638 thumbprint of an HMAC secret (SPEC section 5), computed with node:crypto alone. */
export function referenceKid(secret: string): string {
  const jwk = `{"k":"${Buffer.from(secret, 'utf8').toString('base64url')}","kty":"oct"}`;
  return createHash('sha256').update(jwk).digest('base64url');
}

/** The RFC 7638 thumbprint of a public key (SPEC section 8): members in lexicographic order, no whitespace. */
export function referencePublicKid(key: { x: string; y?: string }): string {
  const jwk =
    key.y === undefined
      ? `{"crv":"Ed25519","kty":"OKP","x":"${key.x}"}`
      : `{"crv":"P-256","kty":"EC","x":"${key.x}","y":"${key.y}"}`;
  return createHash('sha256').update(jwk).digest('base64url');
}

/** The SubjectPublicKeyInfo DER of a public key, built byte by byte. */
export function referenceSpki(key: { x: string; y?: string }): Buffer {
  const x = Buffer.from(key.x, 'base64url');
  if (key.y === undefined) return Buffer.concat([ED25519_SPKI_PREFIX, x]);
  return Buffer.concat([P256_SPKI_PREFIX, Buffer.from([4]), x, Buffer.from(key.y, 'base64url')]);
}

/** An ES256 signature r||s as the DER ECDSA-Sig-Value `SEQUENCE { INTEGER r, INTEGER s }` OpenSSL checks. */
export function rawToDer(signature: Uint8Array): Buffer {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const body = Buffer.from(bytes.subarray(start));
    const padded = (body[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body;
    return Buffer.concat([Buffer.from([2, padded.length]), padded]);
  };
  const half = signature.length / 2;
  const content = Buffer.concat([integer(signature.subarray(0, half)), integer(signature.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, content.length]), content]);
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

const publicKeys = new WeakMap<ReferenceKey, KeyObject>();

function publicKeyOf(key: ReferenceKey & { x: string }): KeyObject {
  let object = publicKeys.get(key);
  if (object === undefined) {
    object = createPublicKey({ key: referenceSpki(key), format: 'der', type: 'spki' });
    publicKeys.set(key, object);
  }
  return object;
}

function algOf(key: ReferenceKey): ReferenceAlg {
  return key.alg ?? 'HS256';
}

function signs(key: ReferenceKey, signingInput: string, signature: Buffer): boolean {
  if ('secret' in key) {
    const expected = createHmac('sha256', Buffer.from(key.secret, 'utf8')).update(signingInput).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  }
  const data = Buffer.from(signingInput, 'ascii');
  if (key.alg === 'ES256') return verifySignature('sha256', data, publicKeyOf(key), rawToDer(signature));
  return verifySignature(null, data, publicKeyOf(key), signature);
}

/**
 * What Keyward must answer for `token` given `keys` (in the order a token without kid tries them: active,
 * standby, then previous keys newest first; expired keys included, as the edge's ring holds them).
 */
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
  // Holding no key of `alg` refuses nothing here: the kid lookup or the signature decides (SPEC sections 6, 8).
  if (alg === 'none' || !options.algorithms.includes(alg)) return fail('algorithm_not_allowed');
  if (KEY_CHOOSING_HEADERS.some((name) => name in header)) return fail('token_malformed');
  if (header.kid !== undefined && typeof header.kid !== 'string') return fail('token_malformed');
  const claims = jsonObject(claimsSegment);
  if (claims === undefined) return fail('token_malformed');
  const signature = strictBase64url(signatureSegment);
  if (signature === undefined) return fail('token_malformed');
  const fixed = FIXED_SIGNATURE_BYTES[alg];
  if (fixed !== undefined && signature.length !== fixed) return fail('token_malformed');

  const signingInput = `${headerSegment}.${claimsSegment}`;
  const inGrace = (key: ReferenceKey) => options.now < key.expiresAt;
  let signer: ReferenceKey | undefined;
  if (typeof header.kid === 'string') {
    const named = keys.find((key) => key.kid === header.kid);
    if (named === undefined || !inGrace(named)) return fail('key_unknown');
    if (algOf(named) !== alg) return fail('algorithm_not_allowed');
    if (!signs(named, signingInput, signature)) return fail('signature_invalid');
    signer = named;
  } else {
    signer = keys.find((key) => algOf(key) === alg && inGrace(key) && signs(key, signingInput, signature));
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
