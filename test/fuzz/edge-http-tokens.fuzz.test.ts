/**
 * Property-based fuzzing of the edge's verify path over HTTP with fuzzed tokens: signed tokens of every shape
 * (held keys, with the oracle of SPEC section 6), through edge.fetch and the Node entry's own listener over
 * loopback, mutated valid tokens, and garbage. POST /verify (JSON body and Bearer header) and GET /verify
 * (forward auth); the invariants are test/support/http-fuzz-harness.ts's.
 * test/fuzz/verify-token.fuzz.test.ts fuzzes verifyToken itself; this file fuzzes what reaches it over HTTP.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpFuzz, runs } from '../support/http-fuzz-harness.ts';
import { NOW_S, SIGNERS, tokenSpec } from '../support/http-fuzz-tokens.ts';
import { b64json } from '../support/jose-by-hand.ts';

const hz = httpFuzz('tokens', { nodeListener: true });
const { shouldVerify, everyTransport, everyTransportOverNodeHttp, signSpec } = hz;

describe('the verify path over HTTP under fuzzing', () => {
  it('verifies the plain reference tokens on every transport (sanity of the harness)', async () => {
    const claims = { sub: 'alice', exp: NOW_S + 60 };
    for (const signer of ['active', 'previous'] as const) {
      for (const kid of [true, false]) {
        const header = kid ? { alg: 'HS256', kid: SIGNERS[signer].kid } : { alg: 'HS256' };
        await everyTransport(signSpec({ signer, hash: 'sha256', header, claims }));
      }
    }
    expect(hz.verified).toBe(12);
  });

  it('signed tokens of every shape (alg, kid, typ, forbidden headers, time claims, sub): exactly the oracle', async () => {
    await fc.assert(
      fc.asyncProperty(tokenSpec, async (spec) => {
        await everyTransport(signSpec(spec));
      }),
      { numRuns: runs(5000) },
    );
  });

  it("the Node entry's direct /verify path (real loopback HTTP, no edge.fetch): the same oracle", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 3, arbitrary: tokenSpec.map(signSpec) },
          { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
          { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
        ),
        (token) => everyTransportOverNodeHttp(token),
      ),
      { numRuns: runs(600) },
    );
  });

  it('mutated valid tokens: substituted, dropped, duplicated characters, truncations, re-padding, segments', async () => {
    const bases = [
      signSpec({
        signer: 'active',
        hash: 'sha256',
        header: { alg: 'HS256', kid: SIGNERS.active.kid },
        claims: { sub: 'alice', exp: NOW_S + 600 },
      }),
      signSpec({ signer: 'previous', hash: 'sha256', header: { alg: 'HS256' }, claims: { sub: 'bob' } }),
    ];
    const mutation = fc.record({
      base: fc.constantFrom(...bases),
      at: fc.nat(),
      kind: fc.constantFrom(
        'replace',
        'drop',
        'duplicate',
        'truncate',
        'pad',
        'std-alphabet',
        'segments',
        'case',
      ),
      char: fc.constantFrom(...'AQgw_-.=+/ 0z\t'.split('')),
      segments: fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(mutation, async ({ base, at, kind, char, segments }) => {
        const i = at % base.length;
        const parts = base.split('.');
        const mutated = {
          replace: base.slice(0, i) + char + base.slice(i + 1),
          drop: base.slice(0, i) + base.slice(i + 1),
          duplicate: base.slice(0, i) + (base[i] as string) + base.slice(i),
          truncate: base.slice(0, i),
          pad: `${base}${'='.repeat((at % 3) + 1)}`,
          'std-alphabet': base.replace(/-/g, '+').replace(/_/g, '/'),
          segments: segments.map((s) => parts[s]).join('.'),
          case: base.slice(0, i) + (base[i] as string).toUpperCase() + base.slice(i + 1),
        }[kind];
        if (mutated === base) return;
        expect(shouldVerify.has(mutated)).toBe(false);
        await everyTransport(mutated);
      }),
      { numRuns: runs(4000) },
    );
  });

  it('random strings and structured garbage as tokens', async () => {
    const segment = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_-]{0,80}$/),
      fc.constantFrom(
        b64json({ alg: 'HS256' }),
        b64json({ alg: 'none' }),
        b64json({ sub: 'root' }),
        b64json([]),
        '',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('.')),
          fc.constantFrom('', ' ', 'null', 'undefined', '.', '..', '...', 'Bearer', 'a.b.c'),
        ),
        (token) => everyTransport(token),
      ),
      { numRuns: runs(3000) },
    );
  });
});
