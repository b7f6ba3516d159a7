/**
 * Property-based fuzzing of the verify path (issue 6): whatever the input, verifyToken never throws and never
 * says valid for a token that a key in the keyset did not sign. Tokens are signed by hand with node:crypto.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import type { HmacPrimitive } from '../../shared/hmac.ts';
import { webCryptoHmac } from '../../shared/hmac.ts';
import { type KeyRing, prepareKeyRing } from '../../shared/key-ring.ts';
import { rotateKeyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { nodeHmac } from '../../shared/runtime/node-hmac.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const ACTIVE = 'fuzz-active-secret-0123456789abcdefghijkl';
const PREVIOUS = 'fuzz-previous-secret-0123456789abcdefghij';
const OPTIONS: VerifyOptions = {
  algorithms: ['HS256'],
  clockToleranceMs: 30_000,
  maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
  now: () => NOW,
};
const CASES = Number(process.env.FUZZ_CASES ?? 30_000);

const b64json = (value: unknown) => encodeBase64url(utf8(JSON.stringify(value)));
function sign(secret: string, header: unknown, payload: unknown, alg = 'sha256'): string {
  const input = `${b64json(header)}.${b64json(payload)}`;
  return `${input}.${createHmac(alg, secret).update(input).digest('base64url')}`;
}

let rings: Record<string, KeyRing>;
let activeKid: string;
let valid: string;
let validNoKid: string;
const signedByUs = new Set<string>();

beforeAll(async () => {
  activeKid = await computeKid(ACTIVE);
  const v1 = rotateKeyset(
    null,
    { secret: PREVIOUS, kid: await computeKid(PREVIOUS) },
    { now: new Date(NOW - 1000), gracePeriodMs: 86_400_000 },
  );
  const keyset = rotateKeyset(
    v1,
    { secret: ACTIVE, kid: activeKid },
    { now: new Date(NOW - 500), gracePeriodMs: 86_400_000 },
  );
  const primitives: HmacPrimitive[] = [nodeHmac as HmacPrimitive, webCryptoHmac as HmacPrimitive];
  rings = Object.fromEntries(
    await Promise.all(primitives.map(async (p) => [p.name, await prepareKeyRing(keyset, p)])),
  );
  const payload = { sub: 'alice', exp: NOW / 1000 + 3600, data: 'x'.repeat(200) };
  valid = sign(ACTIVE, { alg: 'HS256', kid: activeKid, typ: 'JWT' }, payload);
  validNoKid = sign(PREVIOUS, { alg: 'HS256' }, payload);
  signedByUs.add(valid).add(validNoKid);
});

/** The invariant, checked with both primitives: no throw; valid only for tokens we signed. */
async function check(token: string, primitives = ['node:crypto']): Promise<void> {
  for (const name of primitives) {
    const result = await verifyToken(token, rings[name] as KeyRing, OPTIONS);
    if (result.valid) expect(signedByUs.has(token)).toBe(true);
    else expect(typeof result.error).toBe('string');
  }
}

describe('verifyToken under fuzzing', () => {
  it('accepts the two reference tokens with both primitives', async () => {
    for (const ring of Object.values(rings)) {
      expect((await verifyToken(valid, ring, OPTIONS)).valid).toBe(true);
      expect((await verifyToken(validNoKid, ring, OPTIONS)).valid).toBe(true);
    }
  });

  it('rejects every single-character change of a valid token', async () => {
    const alphabet = 'AZaz09-_.=+/ ';
    let cases = 0;
    for (const token of [valid, validNoKid]) {
      for (let i = 0; i < token.length; i++) {
        for (const c of alphabet) {
          const mutated = token.slice(0, i) + c + token.slice(i + 1);
          if (mutated === token) continue;
          await check(mutated, ['node:crypto', 'webcrypto']);
          cases++;
        }
        await check(token.slice(0, i));
        await check(token.slice(0, i) + token.slice(i + 1));
      }
    }
    expect(cases).toBeGreaterThan(10_000);
  });

  it('survives random strings and random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 600 }), fc.string({ unit: 'binary', maxLength: 600 })),
        (s) => check(s),
      ),
      { numRuns: CASES },
    );
  });

  it('survives structured garbage: random segments, padding, duplicated segments', async () => {
    const segment = fc.oneof(
      fc.base64String({ maxLength: 200 }),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,300}$/),
      fc.constantFrom(...valid.split('.')),
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
          fc.constant(activeKid),
          fc.constantFrom('../../etc/passwd', "' OR 1=1 --", '\u0000', 'x'.repeat(10_000)),
          fc.string(),
          fc.integer(),
        ),
        jwk: fc.constant({ kty: 'oct', k: encodeBase64url(utf8('attacker-key-attacker-key-attacker-key')) }),
        jku: fc.constant('http://127.0.0.1/jwks'),
        x5u: fc.constant('http://127.0.0.1/x5u'),
        crit: fc.constant(['exp']),
        b64: fc.constant(false),
      },
      { requiredKeys: ['alg'] },
    );
    const signer = fc.constantFrom(
      { secret: 'attacker-key-attacker-key-attacker-key', alg: 'sha256' },
      { secret: ACTIVE, alg: 'sha512' },
      { secret: ACTIVE, alg: 'sha384' },
    );
    await fc.assert(
      fc.asyncProperty(header, signer, fc.object({ maxDepth: 3 }), async (h, s, payload) => {
        await check(sign(s.secret, h, payload, s.alg));
        // An unsigned token with alg none must never pass either.
        await check(`${b64json(h)}.${b64json(payload)}.`);
      }),
      { numRuns: CASES },
    );
  });

  it('answers deeply nested and huge JSON without crashing', async () => {
    const nested = `${'['.repeat(3000)}${']'.repeat(3000)}`;
    const deep = `${b64json({ alg: 'HS256' })}.${encodeBase64url(utf8(`{"a":${nested}}`))}.AAAA`;
    expect((await verifyToken(deep, rings['node:crypto'] as KeyRing, OPTIONS)).valid).toBe(false);
    const huge = `${b64json({ alg: 'HS256' })}.${b64json({ a: 'x'.repeat(1_000_000) })}.AAAA`;
    const result = await verifyToken(huge, rings['node:crypto'] as KeyRing, OPTIONS);
    expect(result).toEqual({ valid: false, error: 'token_too_large' });
  });
});
