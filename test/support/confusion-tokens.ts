/**
 * Keys, keysets and tokens for the algorithm-confusion fuzz suites: a fixed pool of HS256, ES256 and EdDSA keys
 * (derived from labels, so a failing case reproduces from fast-check's seed alone) and one stranger of each,
 * keysets of any mix of them in every status, and tokens of every header alg and kid, signed by held and unheld
 * keys, in DER, high-S, cut, non-canonical, or HMAC'd with a public key's bytes, each with whether its signature
 * is the signer's own, made with its own algorithm.
 */
import { createECDH, createHash, createHmac, createPrivateKey, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import type { KeyEntry, Keyset, NewKeyPair } from '../../shared/keyset.ts';
import { highS, nonCanonicalEd25519S, publicKeyForms, signatureOf } from './asymmetric-by-hand.ts';
import { b64json } from './jose-by-hand.ts';
import { referenceKid, referencePublicKid } from './reference-jwt-verifier.ts';

export const NOW = Date.parse('2026-11-25T12:00:00Z');
const HOUR = 3_600_000;

const seed = (label: string) => createHash('sha256').update(label).digest();

/** A P-256 pair from a fixed private scalar, so that a failing case reproduces from fast-check's seed alone. */
function es256Pair(label: string): NewKeyPair {
  const ecdh = createECDH('prime256v1');
  const d = seed(label);
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const x = point.subarray(1, 33).toString('base64url');
  const y = point.subarray(33).toString('base64url');
  const kid = referencePublicKid({ x, y });
  return { alg: 'ES256', kid, kty: 'EC', crv: 'P-256', x, y, d: d.toString('base64url') };
}

/** An Ed25519 pair from a fixed seed (RFC 8410 PKCS#8 built by hand). */
function eddsaPair(label: string): NewKeyPair {
  const d = seed(label);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), d]);
  const publicKey = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
  const x = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');
  return {
    alg: 'EdDSA',
    kid: referencePublicKid({ x }),
    kty: 'OKP',
    crv: 'Ed25519',
    x,
    d: d.toString('base64url'),
  };
}

export type PoolKey = { alg: 'HS256'; secret: string; kid: string } | NewKeyPair;

/** Keys a keyset may hold (three of each algorithm), then one stranger of each that no keyset holds. */
export const POOL: readonly PoolKey[] = [
  ...[0, 1, 2].map((i) => {
    const secret = `confusion-fuzz-secret-${i}-0123456789abcdefghij`;
    return { alg: 'HS256' as const, secret, kid: referenceKid(secret) };
  }),
  ...[0, 1, 2].map((i) => es256Pair(`confusion-fuzz-es256-${i}`)),
  ...[0, 1, 2].map((i) => eddsaPair(`confusion-fuzz-eddsa-${i}`)),
];
const STRANGERS: readonly PoolKey[] = [
  { alg: 'HS256' as const, secret: 'confusion-fuzz-stranger-0123456789abcdefghij', kid: '' },
  es256Pair('confusion-fuzz-es256-stranger'),
  eddsaPair('confusion-fuzz-eddsa-stranger'),
].map((key) => (key.alg === 'HS256' ? { ...key, kid: referenceKid(key.secret) } : key));
export const SIGNERS = [...POOL, ...STRANGERS];

const HEADER_ALGS = [
  'HS256',
  'ES256',
  'EdDSA',
  'HS384',
  'HS512',
  'RS256',
  'PS256',
  'none',
  'ES256K',
  'Ed25519',
];
export const ALGS = ['HS256', 'ES256', 'EdDSA'] as const;
/** Grace ends relative to NOW: long past, just past, exactly now, just ahead, far ahead. */
const EXPIRY_OFFSETS = [-2 * HOUR, -1, 0, 1, 10_000, 2 * HOUR];
const INSTANTS = [NOW, NOW - 1, NOW + 1, NOW + 10_000, NOW + 2 * HOUR];

export interface KeysetSpec {
  members: number[];
  standby: boolean;
  expiries: number[];
  configured: string[];
}

export const keysetSpec: fc.Arbitrary<KeysetSpec> = fc.record({
  members: fc.shuffledSubarray(
    POOL.map((_, i) => i),
    { minLength: 1, maxLength: 6 },
  ),
  standby: fc.boolean(),
  expiries: fc.array(fc.constantFrom(...EXPIRY_OFFSETS), { minLength: 6, maxLength: 6 }),
  configured: fc.oneof(
    { weight: 4, arbitrary: fc.constant<string[]>([...ALGS]) },
    { weight: 1, arbitrary: fc.subarray<string>([...ALGS]) },
  ),
});

/** The keyset an edge would hold (no `d`), written by hand from SPEC section 8: members[0] active. */
export function keysetOf(spec: KeysetSpec): Keyset {
  const keys = spec.members.map((index, position): KeyEntry => {
    const key = POOL[index] as PoolKey;
    const status = position === 0 ? 'active' : position === 1 && spec.standby ? 'standby' : 'previous';
    const base = {
      kid: key.kid,
      status,
      created_at: new Date(NOW - (position + 1) * HOUR).toISOString(),
      expires_at:
        status === 'previous' ? new Date(NOW + (spec.expiries[position] as number)).toISOString() : null,
      version: 20 - position,
    } as const;
    if (key.alg === 'HS256') {
      return { ...base, alg: 'HS256', k: Buffer.from(key.secret, 'utf8').toString('base64url') };
    }
    if (key.alg === 'ES256') {
      return { ...base, alg: 'ES256', kty: 'EC', crv: 'P-256', x: key.x, y: key.y };
    }
    return { ...base, alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', x: key.x };
  });
  return { version: 20, issued_at: new Date(NOW - HOUR).toISOString(), keys };
}

type Form =
  | 'plain'
  | 'der'
  | 'highS'
  | 'cut'
  | 'pad'
  | 'nonCanonicalS'
  | 'flipped'
  | { hmacWithPublic: string };

export interface TokenSpec {
  signer: number;
  /** 'own' = the signer's algorithm. */
  alg: string;
  kid: 'own' | 'none' | { of: number } | string;
  form: Form;
  exp: number | undefined;
  now: number;
}

const FORM_NAMES = Object.keys(publicKeyForms(POOL[3] as NewKeyPair));

export const tokenSpec: fc.Arbitrary<TokenSpec> = fc.record({
  signer: fc.oneof(
    { weight: 6, arbitrary: fc.nat({ max: POOL.length - 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: POOL.length, max: SIGNERS.length - 1 }) },
  ),
  alg: fc.oneof(
    { weight: 6, arbitrary: fc.constant('own') },
    { weight: 3, arbitrary: fc.constantFrom(...ALGS) },
    { weight: 1, arbitrary: fc.constantFrom(...HEADER_ALGS) },
  ),
  kid: fc.oneof(
    { weight: 5, arbitrary: fc.constant<'own'>('own') },
    { weight: 3, arbitrary: fc.constant<'none'>('none') },
    { weight: 2, arbitrary: fc.nat({ max: SIGNERS.length - 1 }).map((of) => ({ of })) },
    { weight: 1, arbitrary: fc.constantFrom('', 'not-a-kid', '__proto__') },
  ),
  form: fc.oneof(
    { weight: 10, arbitrary: fc.constant<Form>('plain') },
    {
      weight: 4,
      arbitrary: fc.constantFrom<Form>('der', 'highS', 'cut', 'pad', 'nonCanonicalS', 'flipped'),
    },
    { weight: 3, arbitrary: fc.constantFrom(...FORM_NAMES).map((name): Form => ({ hmacWithPublic: name })) },
  ),
  exp: fc.option(fc.constantFrom(-HOUR, -31_000, -29_000, HOUR), { nil: undefined, freq: 4 }),
  now: fc.constantFrom(...INSTANTS),
});

/** The token `spec` describes, and whether the signature is the signer's own, made with its own algorithm. */
export function tokenOf(spec: TokenSpec): { token: string; genuine: boolean; signer: PoolKey } {
  const signer = SIGNERS[spec.signer] as PoolKey;
  const alg = spec.alg === 'own' ? signer.alg : spec.alg;
  const header: Record<string, unknown> = { alg, typ: 'JWT' };
  if (spec.kid === 'own') header.kid = signer.kid;
  else if (typeof spec.kid === 'object') header.kid = (SIGNERS[spec.kid.of] as PoolKey).kid;
  else if (spec.kid !== 'none') header.kid = spec.kid;
  const claims: Record<string, unknown> = { sub: 'fuzz' };
  if (spec.exp !== undefined) claims.exp = (spec.now + spec.exp) / 1000;
  const input = `${b64json(header)}.${b64json(claims)}`;
  const form = spec.form;
  let signature: Buffer;
  let genuine = false;
  if (typeof form === 'object') {
    if (signer.alg === 'HS256') signature = createHmac('sha256', signer.secret).update(input).digest();
    else {
      const bytes = publicKeyForms(signer)[form.hmacWithPublic] ?? Buffer.from(signer.x, 'base64url');
      signature = createHmac('sha256', bytes).update(input).digest();
    }
    genuine = signer.alg === 'HS256';
  } else if (signer.alg === 'HS256') {
    // DER, high S and a non-canonical S mean nothing to an HMAC: the signature stays the genuine one.
    signature = createHmac('sha256', signer.secret).update(input).digest();
    genuine = true;
  } else {
    signature = signatureOf(signer, input, form === 'der' && signer.alg === 'ES256');
    // A high-S ECDSA signature is as genuine as its twin (both verify); a DER one or an unreduced S is not.
    genuine = !(
      (form === 'der' && signer.alg === 'ES256') ||
      (form === 'nonCanonicalS' && signer.alg === 'EdDSA')
    );
    if (form === 'highS' && signer.alg === 'ES256') signature = highS(signature);
    if (form === 'nonCanonicalS' && signer.alg === 'EdDSA') signature = nonCanonicalEd25519S(signature);
  }
  if (form === 'cut') signature = signature.subarray(0, signature.length - 1);
  if (form === 'pad') signature = Buffer.concat([signature, Buffer.from([0])]);
  if (form === 'flipped') signature = Buffer.from(signature.map((b, i) => (i === 5 ? b ^ 1 : b)));
  if (form === 'cut' || form === 'pad' || form === 'flipped') genuine = false;
  return {
    token: `${input}.${signature.toString('base64url')}`,
    genuine: genuine && alg === signer.alg,
    signer,
  };
}
