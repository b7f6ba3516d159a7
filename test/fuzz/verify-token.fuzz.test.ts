/**
 * Property-based fuzzing of the HS256 verify path with an oracle: for every token, an independent verifier written
 * from SPEC sections 6 and 8 (test/support/reference-jwt-verifier.ts) says what must be answered, and verifyToken
 * must answer exactly that, with both primitives (node:crypto and WebCrypto): valid with the same kid, claims and
 * header, or the same error code. HS384 and HS512 tokens stand for algorithms no key verifies; keysets that mix
 * in ES256 and EdDSA keys are fuzzed in alg-confusion.fuzz.test.ts. Most cases are correctly signed tokens around every rule's edge (expiry,
 * not-before, clock tolerance, grace of previous keys, issuer, audience, algorithms, kid or none), the rest is
 * garbage that must be refused with the right code and never throw.
 */
import { createHmac } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type KeyRing, prepareKeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { type JwsAlg, type VerifyPrimitive, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';
import { b64json, signHs } from '../support/jose-by-hand.ts';
import {
  type ReferenceKey,
  type ReferenceResult,
  referenceKid,
  referenceVerify,
} from '../support/reference-jwt-verifier.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const HOUR = 3_600_000;
const CASES = Number(process.env.FUZZ_CASES ?? 20_000);

/** Keys by role: the active one, a previous one long in grace, one whose grace ends 10 s after NOW, a stranger. */
const SECRETS = {
  active: 'fuzz-active-secret-0123456789abcdefghijkl',
  recent: 'fuzz-previous-secret-0123456789abcdefghij',
  ending: 'fuzz-ending-secret-0123456789abcdefghijklm',
  stranger: 'fuzz-stranger-secret-0123456789abcdefghij',
} as const;
type Role = keyof typeof SECRETS;
const EXPIRES_AT: Record<Role, number> = {
  active: Number.POSITIVE_INFINITY,
  recent: NOW + HOUR,
  ending: NOW + 10_000,
  stranger: Number.POSITIVE_INFINITY,
};
const KID = Object.fromEntries(Object.entries(SECRETS).map(([role, s]) => [role, referenceKid(s)])) as Record<
  Role,
  string
>;
/** What the keyset holds, in the order tokens without kid are tried: active, then previous keys newest first. */
const KNOWN: readonly ReferenceKey[] = (['active', 'recent', 'ending'] as const).map((role) => ({
  secret: SECRETS[role],
  kid: KID[role],
  expiresAt: EXPIRES_AT[role],
}));

/** Instants that sit on a rule's edge: NOW, and one millisecond around the end of each previous key's grace. */
const INSTANTS = [
  NOW,
  NOW - 1,
  NOW + 9_999,
  NOW + 10_000,
  NOW + 10_001,
  NOW + HOUR - 1,
  NOW + HOUR,
  NOW + 2 * HOUR,
];

interface Setup {
  name: string;
  /** Which ring (imported algorithms) the edge holds. */
  imported: readonly JwsAlg[];
  options: Omit<VerifyOptions, 'now'>;
}

/** Edge configurations: the default, every algorithm with issuer and audience, and configured != imported. */
const SETUPS: readonly Setup[] = [
  {
    name: 'default',
    imported: ['HS256'],
    options: { algorithms: ['HS256'], clockToleranceMs: 30_000, maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES },
  },
  {
    name: 'every algorithm, issuer and audience',
    imported: ['HS256', 'ES256', 'EdDSA'],
    options: {
      algorithms: ['HS256', 'ES256', 'EdDSA'],
      issuer: 'https://issuer.example',
      audience: 'api',
      clockToleranceMs: 30_000,
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    },
  },
  {
    name: 'configured narrower than imported, no tolerance',
    imported: ['HS256', 'ES256', 'EdDSA'],
    options: {
      algorithms: ['HS256'],
      issuer: 'https://issuer.example',
      clockToleranceMs: 0,
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    },
  },
  {
    name: 'configured wider than imported',
    imported: ['HS256'],
    options: {
      algorithms: ['HS256', 'EdDSA'],
      audience: 'api',
      clockToleranceMs: 5_000,
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    },
  },
];

const PRIMITIVES: readonly VerifyPrimitive[] = [
  nodeVerify as VerifyPrimitive,
  webCryptoVerify as VerifyPrimitive,
];
/** rings[primitive name][setup name] */
let rings: Record<string, Record<string, KeyRing>>;
let validWithKid: string;
let validWithoutKid: string;
/** Outcome -> count over every check, so a test can show which answers its cases reached. */
const outcomes = new Map<string, number>();

beforeAll(async () => {
  for (const role of Object.keys(SECRETS) as Role[]) {
    expect(await computeKid(SECRETS[role])).toBe(KID[role]);
  }
  const entry = (role: Role, status: 'active' | 'previous', createdAt: number, version: number) => ({
    kid: KID[role],
    alg: 'HS256' as const,
    k: Buffer.from(SECRETS[role], 'utf8').toString('base64url'),
    status,
    created_at: new Date(createdAt).toISOString(),
    expires_at: status === 'active' ? null : new Date(EXPIRES_AT[role]).toISOString(),
    version,
  });
  // Written by hand from SPEC section 5, not by rotateKeyset: the keyset is the oracle's input too.
  const keyset: Keyset = {
    version: 9,
    issued_at: new Date(NOW - HOUR).toISOString(),
    keys: [
      entry('active', 'active', NOW - HOUR, 3),
      entry('ending', 'previous', NOW - 3 * HOUR, 1),
      entry('recent', 'previous', NOW - 2 * HOUR, 2),
    ],
  };
  rings = {};
  for (const primitive of PRIMITIVES) {
    const byName: Record<string, KeyRing> = {};
    for (const setup of SETUPS) byName[setup.name] = await prepareKeyRing(keyset, primitive, setup.imported);
    rings[primitive.name] = byName;
  }
  expect(Object.keys(rings).sort()).toEqual(['node:crypto', 'webcrypto']);
  const claims = { sub: 'alice', exp: NOW / 1000 + 3600, data: 'x'.repeat(200) };
  validWithKid = signHs(SECRETS.active, { alg: 'HS256', kid: KID.active, typ: 'JWT' }, claims);
  validWithoutKid = signHs(SECRETS.recent, { alg: 'HS256' }, claims);
});

/**
 * The oracle check: with every primitive, verifyToken answers exactly what the reference verifier says for
 * this token, setup and instant. Returns the expected answer.
 */
async function check(token: string, setup: Setup = SETUPS[0] as Setup, now = NOW): Promise<ReferenceResult> {
  // The configured algorithms as they are: one the ring holds no key of is still allowed (kid unknown, or no key
  // to match a token without kid), and KNOWN holds HS256 keys only, which every setup imports.
  const expected = referenceVerify(token, KNOWN, { ...setup.options, now });
  const options: VerifyOptions = { ...setup.options, now: () => now };
  for (const primitive of PRIMITIVES) {
    const ring = rings[primitive.name]?.[setup.name] as KeyRing;
    const actual = await verifyToken(token, ring, options);
    // isDeepStrictEqual first: expect() on every one of ~250k answers would dominate the run.
    if (!isDeepStrictEqual(actual, expected)) {
      expect({ primitive: primitive.name, ...actual }).toEqual({ primitive: primitive.name, ...expected });
    }
  }
  const outcome = expected.valid ? 'valid' : expected.error;
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  return expected;
}

const setupArb = fc.constantFrom(...SETUPS);
/** The hash an HMAC `alg` names; only HS256 is a Keyward algorithm, the others must be refused. */
const HMAC_HASH: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

describe('verifyToken under fuzzing, against a reference verifier, with both primitives', () => {
  it('accepts the two reference tokens with both primitives, naming the key that signed each', async () => {
    expect(await check(validWithKid)).toMatchObject({ valid: true, kid: KID.active });
    expect(await check(validWithoutKid)).toMatchObject({ valid: true, kid: KID.recent });
  });

  it('answers correctly signed tokens on every rule edge exactly as the reference does', async () => {
    const before = new Map(outcomes);
    const hsAlg = fc.constantFrom('HS256', 'HS384', 'HS512');
    const header = fc.record({
      alg: fc.oneof(
        { weight: 12, arbitrary: fc.constant('HS256') },
        { weight: 4, arbitrary: hsAlg },
        { weight: 1, arbitrary: fc.constantFrom('none', 'RS256', 'hs256', 'ES256', 'EdDSA') },
      ),
      kid: fc.oneof(
        { weight: 5, arbitrary: fc.constant('own') },
        { weight: 4, arbitrary: fc.constant('none') },
        { weight: 1, arbitrary: fc.constantFrom(...(Object.keys(SECRETS) as Role[])) },
        { weight: 1, arbitrary: fc.constantFrom('', 'not-a-kid') },
      ),
      typ: fc.option(fc.constant('JWT'), { nil: undefined }),
      /** Sign with the hash the header names (most of the time), or with another one. */
      hashMismatch: fc.oneof(
        { weight: 9, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      keyChoosing: fc.oneof(
        { weight: 19, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom('jku', 'jwk', 'crit', 'b64') },
      ),
    });
    // exp and nbf are put on the tolerance edge: the delta is in seconds from the edge, positive towards valid.
    const edgeDelta = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(-3600, -1, -0.001, 0, 0.001, 1) },
      { weight: 4, arbitrary: fc.constant(3600) },
    );
    const timeClaim = fc.oneof(
      { weight: 3, arbitrary: fc.constant<{ absent: true }>({ absent: true }) },
      { weight: 6, arbitrary: edgeDelta.map((delta) => ({ delta })) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<unknown>('soon', null, Number.NaN, [1]).map((raw) => ({ raw })),
      },
    );
    const claims = fc.record({
      sub: fc.string({ maxLength: 16 }),
      iss: fc.oneof(
        { weight: 4, arbitrary: fc.constant('https://issuer.example') },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, 'https://other.example', 7) },
      ),
      aud: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom<unknown>('api', ['web', 'api']) },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, 'other', ['web'], 42, []) },
      ),
      exp: timeClaim,
      nbf: timeClaim,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 4, arbitrary: fc.constant<Role>('active') },
          { weight: 4, arbitrary: fc.constantFrom<Role>('recent', 'ending') },
          { weight: 1, arbitrary: fc.constant<Role>('stranger') },
        ),
        header,
        claims,
        setupArb,
        fc.oneof(
          { weight: 1, arbitrary: fc.constant(NOW) },
          { weight: 2, arbitrary: fc.constantFrom(...INSTANTS) },
        ),
        async (signer, h, c, setup, now) => {
          const tolerance = setup.options.clockToleranceMs;
          const time = (claim: typeof c.exp, edge: number, towardsValid: 1 | -1) =>
            'absent' in claim
              ? undefined
              : 'delta' in claim
                ? edge / 1000 + towardsValid * claim.delta
                : claim.raw;
          const body: Record<string, unknown> = { sub: c.sub, iss: c.iss, aud: c.aud };
          body.exp = time(c.exp, now - tolerance, 1);
          body.nbf = time(c.nbf, now + tolerance, -1);
          const kid =
            h.kid === 'own' ? KID[signer] : h.kid === 'none' ? undefined : (KID[h.kid as Role] ?? h.kid);
          const jose: Record<string, unknown> = { alg: h.alg, kid, typ: h.typ };
          if (h.keyChoosing) jose[h.keyChoosing] = h.keyChoosing === 'crit' ? ['exp'] : 'x';
          const named = HMAC_HASH[h.alg] ?? 'sha256';
          const hash = h.hashMismatch ? (named === 'sha256' ? 'sha512' : 'sha256') : named;
          // JSON.stringify drops undefined members: absent claims and headers are absent from the token.
          await check(signHs(SECRETS[signer], jose, body, hash), setup, now);
        },
      ),
      { numRuns: CASES },
    );
    // The generator reaches every answer, and a good share of the tokens must be accepted.
    const reached = (outcome: string) => (outcomes.get(outcome) ?? 0) - (before.get(outcome) ?? 0);
    for (const outcome of [
      'token_expired',
      'token_not_yet_valid',
      'key_unknown',
      'signature_invalid',
      'algorithm_not_allowed',
      'claim_invalid',
      'token_malformed',
    ]) {
      expect(reached(outcome), outcome).toBeGreaterThan(CASES / 300);
    }
    expect(reached('valid')).toBeGreaterThan(CASES / 8);
  });

  it('rejects every single-character change of a valid token with the reference error code', async () => {
    const alphabet = 'AZaz09-_.=+/ ';
    let cases = 0;
    for (const token of [validWithKid, validWithoutKid]) {
      for (let i = 0; i < token.length; i++) {
        for (const c of alphabet) {
          const mutated = token.slice(0, i) + c + token.slice(i + 1);
          if (mutated === token) continue;
          expect((await check(mutated)).valid).toBe(false);
          cases++;
        }
        await check(token.slice(0, i));
        await check(token.slice(0, i) + token.slice(i + 1));
      }
    }
    expect(cases).toBeGreaterThan(10_000);
  });

  it('answers random strings and random bytes with the reference error code', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 600 }), fc.string({ unit: 'binary', maxLength: 600 })),
        async (s) => {
          await check(s);
        },
      ),
      { numRuns: CASES },
    );
  });

  it('answers structured garbage (random segments, padding, duplicated segments) with the reference code', async () => {
    const segment = fc.oneof(
      fc.base64String({ maxLength: 200 }),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,300}$/),
      fc.constantFrom(...validWithKid.split('.')),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (parts, pad) => {
          await check(parts.join('.') + (pad ? '==' : ''));
        },
      ),
      { numRuns: CASES },
    );
  });

  it('never lets a header choose the algorithm or the key', async () => {
    const header = fc.record(
      {
        alg: fc.constantFrom(
          'none',
          'None',
          'NONE',
          'HS256',
          'HS384',
          'HS512',
          'RS256',
          'ES256',
          '',
          'hs256',
        ),
        kid: fc.oneof(
          fc.constant(KID.active),
          fc.constantFrom('../../etc/passwd', "' OR 1=1 --", '\u0000', 'x'.repeat(10_000)),
          fc.string(),
          fc.integer(),
        ),
        jwk: fc.constant({
          kty: 'oct',
          k: Buffer.from('attacker-key-attacker-key-attacker-key').toString('base64url'),
        }),
        jku: fc.constant('http://127.0.0.1/jwks'),
        x5u: fc.constant('http://127.0.0.1/x5u'),
        crit: fc.constant(['exp']),
        b64: fc.constant(false),
      },
      { requiredKeys: ['alg'] },
    );
    const signer = fc.constantFrom(
      { secret: 'attacker-key-attacker-key-attacker-key', hash: 'sha256' },
      { secret: SECRETS.active, hash: 'sha512' },
      { secret: SECRETS.active, hash: 'sha384' },
    );
    await fc.assert(
      fc.asyncProperty(header, signer, fc.object({ maxDepth: 3 }), setupArb, async (h, s, claims, setup) => {
        const signed = await check(signHs(s.secret, h, claims, s.hash), setup);
        // Only the real key, with the hash the header names and no key-choosing parameter, can pass.
        if (signed.valid) expect(s.secret).toBe(SECRETS.active);
        // An unsigned token with alg none must never pass either.
        expect((await check(`${b64json(h)}.${b64json(claims)}.`, setup)).valid).toBe(false);
      }),
      { numRuns: CASES },
    );
  });

  it('answers deeply nested and huge JSON without crashing', async () => {
    const nested = `${'['.repeat(3000)}${']'.repeat(3000)}`;
    const deep = `${b64json({ alg: 'HS256' })}.${Buffer.from(`{"a":${nested}}`).toString('base64url')}.AAAA`;
    expect(await check(deep)).toEqual({ valid: false, error: 'signature_invalid' });
    const huge = `${b64json({ alg: 'HS256' })}.${b64json({ a: 'x'.repeat(1_000_000) })}.AAAA`;
    expect(await check(huge)).toEqual({ valid: false, error: 'token_too_large' });
    const signedDeep = `${b64json({ alg: 'HS256' })}.${b64json({ a: JSON.parse(nested.slice(2900, 3100)) })}`;
    const token = `${signedDeep}.${createHmac('sha256', SECRETS.active).update(signedDeep).digest('base64url')}`;
    expect(await check(token)).toMatchObject({ valid: true, kid: KID.active });
  });
});
