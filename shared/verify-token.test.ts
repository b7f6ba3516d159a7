import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { signAsym } from '../test/support/asymmetric-by-hand.ts';
import { signHs } from '../test/support/jose-by-hand.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../test/support/key-pairs.ts';
import { prepareKeyRing } from './key-ring.ts';
import { type Keyset, rotateKeyset } from './keyset.ts';
import { computeKid } from './kid.ts';
import { nodeVerify } from './runtime/node-verify.ts';
import { type JwsAlg, type VerifyPrimitive, webCryptoVerify } from './verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from './verify-token.ts';

const HOUR = 3_600_000;
const GRACE = HOUR;
const T0 = Date.parse('2025-06-01T00:00:00.000Z');
/** The old secret was superseded at T1 and stops verifying at T1 + GRACE. */
const T1 = T0 + 2 * HOUR;
const NOW = T1 + 10 * 60_000;
const OLD_EXPIRES = T1 + GRACE;

const OLD = 'verify-test-old-secret-0123456789abcdefgh';
const ACTIVE = 'verify-test-active-secret-0123456789abcdef';
const STRANGER = 'verify-test-stranger-secret-0123456789abcd';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const HASH: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

type Header = Record<string, unknown>;
type Claims = Record<string, unknown>;

interface Signer {
  name: string;
  sign(header: Header, claims: Claims, secret: string): Promise<string>;
}

/** JWS compact by hand: node:crypto createHmac over `header.payload`. */
const handSigner: Signer = {
  name: 'createHmac',
  async sign(header, claims, secret) {
    const input = `${b64(header)}.${b64(claims)}`;
    const alg = String(header.alg);
    if (!(alg in HASH)) return `${input}.`;
    return `${input}.${createHmac(HASH[alg] as string, secret)
      .update(input)
      .digest('base64url')}`;
  },
};

const joseSigner: Signer = {
  name: 'jose',
  sign(header, claims, secret) {
    return new SignJWT(claims)
      .setProtectedHeader(header as { alg: string })
      .sign(new TextEncoder().encode(secret));
  },
};

let oldKid = '';
let activeKid = '';

async function buildKeyset(): Promise<Keyset> {
  oldKid = await computeKid(OLD);
  activeKid = await computeKid(ACTIVE);
  const first = rotateKeyset(null, { secret: OLD, kid: oldKid }, { now: new Date(T0), gracePeriodMs: GRACE });
  return rotateKeyset(first, { secret: ACTIVE, kid: activeKid }, { now: new Date(T1), gracePeriodMs: GRACE });
}

interface Case {
  name: string;
  header?: (kids: { active: string; old: string }) => Header;
  claims?: Claims;
  secret?: string;
  now?: number;
  options?: Partial<VerifyOptions>;
  /** Only the hand signer can produce it (jose refuses to sign such tokens). */
  handOnly?: boolean;
  /** Replaces the signed token. */
  mutate?: (token: string) => string;
  expect: { valid: true; kid: 'active' | 'old' } | { valid: false; error: string };
}

const sec = (ms: number) => Math.floor(ms / 1000);

const CASES: Case[] = [
  {
    name: 'active key with kid',
    header: (k) => ({ alg: 'HS256', kid: k.active, typ: 'JWT' }),
    expect: { valid: true, kid: 'active' },
  },
  {
    name: 'previous key with kid, within grace',
    header: (k) => ({ alg: 'HS256', kid: k.old }),
    secret: OLD,
    expect: { valid: true, kid: 'old' },
  },
  { name: 'no kid: active key', expect: { valid: true, kid: 'active' } },
  { name: 'no kid: falls back to the previous key', secret: OLD, expect: { valid: true, kid: 'old' } },
  {
    name: 'previous key with kid, 1 ms before expires_at',
    header: (k) => ({ alg: 'HS256', kid: k.old }),
    secret: OLD,
    now: OLD_EXPIRES - 1,
    expect: { valid: true, kid: 'old' },
  },
  {
    name: 'previous key without kid, 1 ms before expires_at',
    secret: OLD,
    now: OLD_EXPIRES - 1,
    expect: { valid: true, kid: 'old' },
  },
  {
    name: 'previous key with kid, at expires_at: key_unknown',
    header: (k) => ({ alg: 'HS256', kid: k.old }),
    secret: OLD,
    now: OLD_EXPIRES,
    expect: { valid: false, error: 'key_unknown' },
  },
  {
    name: 'previous key without kid, after expires_at: signature_invalid',
    secret: OLD,
    now: OLD_EXPIRES + 1,
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'active key still valid long after the previous one expired',
    now: OLD_EXPIRES + 365 * 24 * HOUR,
    expect: { valid: true, kid: 'active' },
  },
  {
    name: 'unknown kid: key_unknown',
    header: () => ({ alg: 'HS256', kid: 'no-such-kid' }),
    expect: { valid: false, error: 'key_unknown' },
  },
  {
    name: 'known kid, signed by another secret: signature_invalid',
    header: (k) => ({ alg: 'HS256', kid: k.active }),
    secret: STRANGER,
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'kid of the previous key, signed by the active one: signature_invalid',
    header: (k) => ({ alg: 'HS256', kid: k.old }),
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'no kid, unknown secret: signature_invalid',
    secret: STRANGER,
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'alg none: algorithm_not_allowed',
    header: () => ({ alg: 'none' }),
    handOnly: true,
    expect: { valid: false, error: 'algorithm_not_allowed' },
  },
  {
    name: 'alg none even when listed: never accepted',
    header: () => ({ alg: 'none' }),
    handOnly: true,
    options: { algorithms: ['none' as JwsAlg] },
    expect: { valid: false, error: 'algorithm_not_allowed' },
  },
  {
    name: 'HS512 not allowed by default: algorithm_not_allowed',
    header: (k) => ({ alg: 'HS512', kid: k.active }),
    expect: { valid: false, error: 'algorithm_not_allowed' },
  },
  {
    name: 'RS256 header: algorithm_not_allowed',
    header: () => ({ alg: 'RS256' }),
    handOnly: true,
    expect: { valid: false, error: 'algorithm_not_allowed' },
  },
  {
    name: 'exp in the past beyond tolerance: token_expired',
    claims: { sub: 'u', exp: sec(NOW) - 31 },
    expect: { valid: false, error: 'token_expired' },
  },
  {
    name: 'exp in the past within tolerance: valid',
    claims: { sub: 'u', exp: sec(NOW) - 29 },
    expect: { valid: true, kid: 'active' },
  },
  {
    name: 'exp exactly now without tolerance: token_expired',
    claims: { sub: 'u', exp: sec(NOW) },
    options: { clockToleranceMs: 0 },
    expect: { valid: false, error: 'token_expired' },
  },
  {
    name: 'nbf in the future beyond tolerance: token_not_yet_valid',
    claims: { sub: 'u', nbf: sec(NOW) + 31 },
    expect: { valid: false, error: 'token_not_yet_valid' },
  },
  {
    name: 'nbf in the future within tolerance: valid',
    claims: { sub: 'u', nbf: sec(NOW) + 29 },
    expect: { valid: true, kid: 'active' },
  },
  {
    name: 'exp not a number: claim_invalid',
    claims: { sub: 'u', exp: 'tomorrow' },
    handOnly: true,
    expect: { valid: false, error: 'claim_invalid' },
  },
  {
    name: 'iss matches',
    claims: { sub: 'u', iss: 'https://issuer.example' },
    options: { issuer: 'https://issuer.example' },
    expect: { valid: true, kid: 'active' },
  },
  {
    name: 'iss differs: claim_invalid',
    claims: { sub: 'u', iss: 'https://evil.example' },
    options: { issuer: 'https://issuer.example' },
    expect: { valid: false, error: 'claim_invalid' },
  },
  {
    name: 'iss missing when required: claim_invalid',
    options: { issuer: 'https://issuer.example' },
    expect: { valid: false, error: 'claim_invalid' },
  },
  {
    name: 'aud in an array',
    claims: { sub: 'u', aud: ['other', 'api'] },
    options: { audience: 'api' },
    expect: { valid: true, kid: 'active' },
  },
  {
    name: 'aud differs: claim_invalid',
    claims: { sub: 'u', aud: 'other' },
    options: { audience: 'api' },
    expect: { valid: false, error: 'claim_invalid' },
  },
  {
    name: 'aud missing when required: claim_invalid',
    options: { audience: 'api' },
    expect: { valid: false, error: 'claim_invalid' },
  },
  {
    name: 'header with jwk: token_malformed',
    header: () => ({ alg: 'HS256', jwk: { kty: 'oct', k: 'AAAA' } }),
    handOnly: true,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'header with jku: token_malformed',
    header: () => ({ alg: 'HS256', jku: 'https://evil.example/keys' }),
    handOnly: true,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'header with crit: token_malformed',
    header: () => ({ alg: 'HS256', crit: ['exp'], exp: 1 }),
    handOnly: true,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'kid not a string: token_malformed',
    header: () => ({ alg: 'HS256', kid: 42 }),
    handOnly: true,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'alg missing: token_malformed',
    header: () => ({ typ: 'JWT' }),
    handOnly: true,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'payload not an object: token_malformed',
    handOnly: true,
    mutate: (token) => {
      const [h] = token.split('.');
      const input = `${h}.${b64([1, 2, 3])}`;
      return `${input}.${createHmac('sha256', ACTIVE).update(input).digest('base64url')}`;
    },
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'signature with padding: token_malformed',
    mutate: (token) => `${token}=`,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'allowed by the options, no key of that algorithm in the ring, no kid: signature_invalid, no throw',
    header: () => ({ alg: 'ES256' }),
    options: { algorithms: ['HS256', 'ES256'] },
    handOnly: true,
    mutate: (token) => `${token}${Buffer.alloc(64, 7).toString('base64url')}`,
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'allowed by the options, no key of that algorithm in the ring, a kid it lacks: key_unknown',
    header: () => ({ alg: 'ES256', kid: 'es256-kid-not-held' }),
    options: { algorithms: ['HS256', 'ES256'] },
    handOnly: true,
    mutate: (token) => `${token}${Buffer.alloc(64, 7).toString('base64url')}`,
    expect: { valid: false, error: 'key_unknown' },
  },
  {
    name: 'no key of that algorithm in the ring but not allowed by the options: algorithm_not_allowed',
    header: () => ({ alg: 'ES256', kid: 'es256-kid-not-held' }),
    handOnly: true,
    mutate: (token) => `${token}${Buffer.alloc(64, 7).toString('base64url')}`,
    expect: { valid: false, error: 'algorithm_not_allowed' },
  },
  {
    name: 'signature truncated: signature_invalid',
    mutate: (token) => {
      const [h, p, s] = token.split('.');
      return `${h}.${p}.${Buffer.from(s as string, 'base64url')
        .subarray(0, 29)
        .toString('base64url')}`;
    },
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'payload changed after signing: signature_invalid',
    mutate: (token) => {
      const [h, , s] = token.split('.');
      return `${h}.${b64({ sub: 'admin' })}.${s}`;
    },
    expect: { valid: false, error: 'signature_invalid' },
  },
  {
    name: 'four segments: token_malformed',
    mutate: (token) => `${token}.x`,
    expect: { valid: false, error: 'token_malformed' },
  },
  {
    name: 'oversized: token_too_large',
    claims: { sub: 'u', pad: 'x'.repeat(DEFAULT_MAX_TOKEN_BYTES) },
    expect: { valid: false, error: 'token_too_large' },
  },
];

const MALFORMED: Array<[string, string]> = [
  ['', 'token_missing'],
  ['abc', 'token_malformed'],
  ['a.b', 'token_malformed'],
  ['..', 'token_malformed'],
  ['a.b.c.d', 'token_malformed'],
  [`${b64({ alg: 'HS256' })}.!!!.abc`, 'token_malformed'],
  [`not-json.${b64({})}.abc`, 'token_malformed'],
  [`${Buffer.from('{"alg":"HS256"').toString('base64url')}.${b64({})}.abc`, 'token_malformed'],
  [`${Buffer.from([0xff, 0xfe]).toString('base64url')}.${b64({})}.abc`, 'token_malformed'],
  [`${b64('HS256')}.${b64({})}.abc`, 'token_malformed'],
  [`${b64(null)}.${b64({})}.abc`, 'token_malformed'],
  [`${b64({ alg: 'HS256' })}.${b64({})}.a`, 'token_malformed'],
  [`${b64({ alg: 'HS256' })}=.${b64({})}.abc`, 'token_malformed'],
  [`${b64({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}.abc`, 'token_malformed'],
  [`${b64({ alg: 'HS256' })}.${b64({})}.${'é'.repeat(4)}`, 'token_malformed'],
  ['x'.repeat(DEFAULT_MAX_TOKEN_BYTES + 1), 'token_too_large'],
];

const PRIMITIVES: VerifyPrimitive[] = [webCryptoVerify as VerifyPrimitive, nodeVerify as VerifyPrimitive];

describe.each(PRIMITIVES.map((primitive) => [primitive.name, primitive] as const))(
  'verifyToken with %s',
  (_name, primitive) => {
    async function verify(token: string, now: number, options: Partial<VerifyOptions> = {}) {
      const ring = await prepareKeyRing(await buildKeyset(), primitive, ['HS256']);
      return verifyToken(token, ring, {
        algorithms: ['HS256'],
        clockToleranceMs: 30_000,
        maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
        now: () => now,
        ...options,
      });
    }

    for (const signer of [handSigner, joseSigner]) {
      const cases = CASES.filter((c) => signer === handSigner || !c.handOnly);
      it.each(cases.map((c) => [c.name, c] as const))(`${signer.name}: %s`, async (_caseName, c) => {
        await buildKeyset();
        const header = c.header?.({ active: activeKid, old: oldKid }) ?? { alg: 'HS256' };
        const claims = c.claims ?? { sub: 'user-1', iat: sec(NOW) };
        let token = await signer.sign(header, claims, c.secret ?? ACTIVE);
        if (c.mutate) token = c.mutate(token);
        const result = await verify(token, c.now ?? NOW, c.options);
        if (c.expect.valid) {
          expect(result).toMatchObject({ valid: true, kid: c.expect.kid === 'active' ? activeKid : oldKid });
          expect(result.valid && result.claims).toEqual(claims);
        } else {
          expect(result).toEqual({ valid: false, error: c.expect.error });
        }
      });
    }

    it.each(MALFORMED)('malformed input %#: %s -> %s', async (token, error) => {
      expect(await verify(token, NOW)).toEqual({ valid: false, error });
    });

    it('an HS256 key verifies HS256 only: an HS384 or HS512 token under its kid is algorithm_not_allowed', async () => {
      const ring = await prepareKeyRing(await buildKeyset(), primitive);
      for (const alg of ['HS384', 'HS512']) {
        const token = await handSigner.sign({ alg, kid: activeKid }, { sub: 'u' }, ACTIVE);
        const result = await verifyToken(token, ring, {
          algorithms: ['HS256', 'ES256', 'EdDSA'],
          clockToleranceMs: 0,
          maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
          now: () => NOW,
        });
        expect(result).toEqual({ valid: false, error: 'algorithm_not_allowed' });
      }
    });
  },
);

describe('verifyToken: synchronous with a synchronous primitive', () => {
  it('returns the verdict itself with node:crypto and a promise of the same verdict with WebCrypto', async () => {
    const keyset = await buildKeyset();
    const options: VerifyOptions = {
      algorithms: ['HS256'],
      clockToleranceMs: 0,
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
      now: () => NOW,
    };
    const nodeRing = await prepareKeyRing(keyset, nodeVerify as VerifyPrimitive);
    const webRing = await prepareKeyRing(keyset, webCryptoVerify as VerifyPrimitive);
    const tokens = [
      await handSigner.sign({ alg: 'HS256', kid: activeKid }, { sub: 'u' }, ACTIVE),
      await handSigner.sign({ alg: 'HS256' }, { sub: 'u' }, OLD),
      await handSigner.sign({ alg: 'HS256' }, { sub: 'u' }, 'verify-test-stranger-0123456789abcdefghij'),
    ];
    for (const token of tokens) {
      const sync = verifyToken(token, nodeRing, options);
      const async = verifyToken(token, webRing, options);
      expect(sync).not.toBeInstanceOf(Promise);
      expect(async).toBeInstanceOf(Promise);
      expect(await async).toEqual(sync);
    }
    expect(
      tokens.map((token) => (verifyToken(token, nodeRing, options) as { valid: boolean }).valid),
    ).toEqual([true, true, false]);
  });
});

describe('verifyToken: which keys it tries, in which order', () => {
  const NEWER = 'verify-test-newer-secret-0123456789abcdefg';
  const NEWEST = 'verify-test-newest-secret-0123456789abcdef';

  /** node:crypto HMAC that records, per verify call, which secret the key was imported from. */
  function recordingRing(keyset: Keyset, names: Record<string, string>) {
    const tried: string[] = [];
    const primitive: VerifyPrimitive<{ name: string; key: unknown }> = {
      name: 'recording node:crypto',
      importKey: (entry) => ({
        name:
          names[entry.alg === 'HS256' ? Buffer.from(entry.k, 'base64url').toString('utf8') : ''] ?? 'unnamed',
        key: nodeVerify.importKey(entry),
      }),
      verify: ({ name, key }, input, signature) => {
        tried.push(name);
        return nodeVerify.verify(key as Parameters<typeof nodeVerify.verify>[0], input, signature);
      },
    };
    return { ring: prepareKeyRing(keyset, primitive as VerifyPrimitive), tried };
  }

  it('without kid: the active key first, then previous keys newest first, stopping at the first match; expired keys are never tried', async () => {
    const newerKid = await computeKid(NEWER);
    // Four keys: OLD (grace ends at OLD_EXPIRES), ACTIVE superseded at T1 + 1 min, NEWER at T1 + 2 min, NEWEST active.
    const withNewer = rotateKeyset(
      await buildKeyset(),
      { secret: NEWER, kid: newerKid },
      { now: new Date(T1 + 60_000), gracePeriodMs: 24 * HOUR },
    );
    const keyset = rotateKeyset(
      withNewer,
      { secret: NEWEST, kid: await computeKid(NEWEST) },
      { now: new Date(T1 + 120_000), gracePeriodMs: 24 * HOUR },
    );
    const names = { [NEWEST]: 'active', [NEWER]: 'newer', [ACTIVE]: 'older', [OLD]: 'oldest' };
    const { ring, tried } = recordingRing(keyset, names);
    const verifyWith = async (secret: string, kid?: string, now = NOW) => {
      tried.length = 0;
      const header = kid === undefined ? { alg: 'HS256' } : { alg: 'HS256', kid };
      const result = await verifyToken(await handSigner.sign(header, { sub: 'u' }, secret), await ring, {
        algorithms: ['HS256'],
        clockToleranceMs: 0,
        maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
        now: () => now,
      });
      return { result, tried: [...tried] };
    };

    expect(await verifyWith(NEWEST)).toMatchObject({ tried: ['active'] });
    expect(await verifyWith(NEWER)).toMatchObject({
      result: { valid: true, kid: newerKid },
      tried: ['active', 'newer'],
    });
    expect(await verifyWith(ACTIVE)).toMatchObject({ tried: ['active', 'newer', 'older'] });
    expect(await verifyWith(OLD)).toMatchObject({
      result: { valid: true, kid: oldKid },
      tried: ['active', 'newer', 'older', 'oldest'],
    });
    expect(await verifyWith(STRANGER)).toEqual({
      result: { valid: false, error: 'signature_invalid' },
      tried: ['active', 'newer', 'older', 'oldest'],
    });
    // Once OLD's grace has ended it is skipped without an HMAC.
    expect(await verifyWith(STRANGER, undefined, OLD_EXPIRES)).toMatchObject({
      tried: ['active', 'newer', 'older'],
    });
    // With a kid: only the key it names, and none at all for an unknown or expired kid.
    expect(await verifyWith(OLD, oldKid)).toMatchObject({ result: { valid: true }, tried: ['oldest'] });
    expect(await verifyWith(OLD, oldKid, OLD_EXPIRES)).toEqual({
      result: { valid: false, error: 'key_unknown' },
      tried: [],
    });
    expect(await verifyWith(STRANGER, 'no-such-kid')).toEqual({
      result: { valid: false, error: 'key_unknown' },
      tried: [],
    });
  });

  it('a token of one algorithm never reaches a key of another: no primitive call for a mismatched kid or alg', async () => {
    const keyset = edgeView(
      await buildMixedKeyset(6, [
        { key: ACTIVE },
        { key: EDDSA_PAIR, status: 'standby' },
        { key: ES256_PAIR, status: 'previous' },
        { key: OLD, status: 'previous' },
      ]),
    );
    const tried: string[] = [];
    const primitive: VerifyPrimitive<{ kid: string; key: unknown }> = {
      name: 'recording node:crypto',
      importKey: (entry) => ({ kid: entry.kid, key: nodeVerify.importKey(entry) }),
      verify: ({ kid, key }, input, signature) => {
        tried.push(kid);
        return nodeVerify.verify(key as Parameters<typeof nodeVerify.verify>[0], input, signature);
      },
    };
    const ring = await prepareKeyRing(keyset, primitive as VerifyPrimitive);
    const [activeKid, oldKid] = [await computeKid(ACTIVE), await computeKid(OLD)];
    const run = async (token: string) => {
      tried.length = 0;
      const result = await verifyToken(token, ring, {
        algorithms: ['HS256', 'ES256', 'EdDSA'],
        clockToleranceMs: 0,
        maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
        now: () => NOW,
      });
      return { result: result.valid ? result.kid : result.error, tried: [...tried] };
    };
    const es = (header: Header) => signAsym(ES256_PAIR, header, { sub: 'u' });
    const ed = (header: Header) => signAsym(EDDSA_PAIR, header, { sub: 'u' });
    // Without kid: only the keys of the header's algorithm, active, standby, then previous.
    expect(await run(es({ alg: 'ES256' }))).toEqual({ result: ES256_PAIR.kid, tried: [ES256_PAIR.kid] });
    expect(await run(ed({ alg: 'EdDSA' }))).toEqual({ result: EDDSA_PAIR.kid, tried: [EDDSA_PAIR.kid] });
    expect(await run(signHs(OLD, { alg: 'HS256' }, { sub: 'u' }))).toEqual({
      result: oldKid,
      tried: [activeKid, oldKid],
    });
    // A forged HS256 token (HMAC under the EdDSA public key) without kid tries the HS256 keys only.
    const forged = signHs(EDDSA_PAIR.x, { alg: 'HS256' }, { sub: 'u' });
    expect(await run(forged)).toEqual({ result: 'signature_invalid', tried: [activeKid, oldKid] });
    // A kid naming a key of another algorithm: refused before any primitive call.
    for (const token of [
      signHs(EDDSA_PAIR.x, { alg: 'HS256', kid: EDDSA_PAIR.kid }, { sub: 'u' }),
      es({ alg: 'ES256', kid: EDDSA_PAIR.kid }),
      ed({ alg: 'EdDSA', kid: ES256_PAIR.kid }),
      ed({ alg: 'EdDSA', kid: activeKid }),
    ]) {
      expect(await run(token)).toEqual({ result: 'algorithm_not_allowed', tried: [] });
    }
  });
});

describe('verifyToken: headers read once and remembered', () => {
  const options = (algorithms: JwsAlg[] = ['HS256']): VerifyOptions => ({
    algorithms,
    clockToleranceMs: 0,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    now: () => NOW,
  });

  it('a header first seen on a forged token takes nothing from it: the same header verifies a signed token after, and refuses a forged one again', async () => {
    const ring = await prepareKeyRing(await buildKeyset(), nodeVerify as VerifyPrimitive);
    const header = { alg: 'HS256', kid: activeKid, typ: 'JWT', x: 'memo-forged-first' };
    const forged = await handSigner.sign(header, { sub: 'mallory' }, STRANGER);
    const signed = await handSigner.sign(header, { sub: 'alice' }, ACTIVE);
    expect(verifyToken(forged, ring, options())).toEqual({ valid: false, error: 'signature_invalid' });
    expect(verifyToken(signed, ring, options())).toMatchObject({ valid: true, claims: { sub: 'alice' } });
    expect(verifyToken(forged, ring, options())).toEqual({ valid: false, error: 'signature_invalid' });
  });

  it('the checks against the ring and the options run per token, not once per header', async () => {
    const ring = await prepareKeyRing(await buildKeyset(), nodeVerify as VerifyPrimitive);
    const token = await handSigner.sign(
      { alg: 'HS256', kid: activeKid, x: 'memo-options' },
      { sub: 'u' },
      ACTIVE,
    );
    expect(verifyToken(token, ring, options())).toMatchObject({ valid: true });
    expect(verifyToken(token, ring, options(['EdDSA']))).toEqual({
      valid: false,
      error: 'algorithm_not_allowed',
    });
    expect(verifyToken(token, ring, options())).toMatchObject({ valid: true });
  });

  it('a bad header is refused every time it comes, in the order the checks have without the memo', async () => {
    const ring = await prepareKeyRing(await buildKeyset(), nodeVerify as VerifyPrimitive);
    const cases: [Header, string][] = [
      [{ alg: 'HS256', kid: activeKid, crit: ['exp'] }, 'token_malformed'],
      [{ alg: 'HS256', kid: 7 }, 'token_malformed'],
      [{ alg: 'none', kid: 7 }, 'algorithm_not_allowed'],
      [{ alg: 'none', crit: ['exp'] }, 'algorithm_not_allowed'],
      [{ alg: 5 }, 'token_malformed'],
    ];
    for (const [header, error] of cases) {
      const token = await handSigner.sign(header, { sub: 'u' }, ACTIVE);
      for (let i = 0; i < 3; i++)
        expect(verifyToken(token, ring, options())).toEqual({ valid: false, error });
    }
  });

  it('the header a verdict carries cannot be changed under the tokens that share it', async () => {
    const ring = await prepareKeyRing(await buildKeyset(), nodeVerify as VerifyPrimitive);
    const token = await handSigner.sign(
      { alg: 'HS256', kid: activeKid, nested: { role: 'user' } },
      { sub: 'u' },
      ACTIVE,
    );
    const first = verifyToken(token, ring, options()) as { valid: true; header: Header };
    expect(() => {
      first.header.kid = 'other';
    }).toThrow(TypeError);
    expect(() => {
      (first.header.nested as Header).role = 'admin';
    }).toThrow(TypeError);
    expect(verifyToken(token, ring, options())).toMatchObject({
      valid: true,
      kid: activeKid,
      header: { nested: { role: 'user' } },
    });
  });

  it('thousands of made-up headers do not stop a known one from verifying, nor change any verdict', async () => {
    const ring = await prepareKeyRing(await buildKeyset(), nodeVerify as VerifyPrimitive);
    const known = await handSigner.sign({ alg: 'HS256', kid: activeKid }, { sub: 'u' }, ACTIVE);
    for (let i = 0; i < 2_000; i++) {
      const made = await handSigner.sign({ alg: 'HS256', kid: activeKid, n: i }, { sub: 'u' }, STRANGER);
      expect(verifyToken(made, ring, options())).toEqual({ valid: false, error: 'signature_invalid' });
      if (i % 97 === 0) expect(verifyToken(known, ring, options())).toMatchObject({ valid: true });
    }
    const long = await handSigner.sign(
      { alg: 'HS256', kid: activeKid, pad: 'p'.repeat(2_000) },
      { sub: 'u' },
      ACTIVE,
    );
    expect(verifyToken(long, ring, options())).toMatchObject({ valid: true });
    expect(verifyToken(long, ring, options())).toMatchObject({ valid: true });
  });
});
