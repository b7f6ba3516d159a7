/**
 * Property-based fuzzing of the edge's verify path over HTTP with fuzzed headers: forward auth's X-Auth-Subject,
 * Authorization schemes, and random Authorization values, request headers, methods and paths. Through
 * edge.fetch; the invariants are test/support/http-fuzz-harness.ts's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpFuzz, runs, verifyRequest } from '../support/http-fuzz-harness.ts';
import { SIGNERS } from '../support/http-fuzz-tokens.ts';
import { signHs } from '../support/jose-by-hand.ts';

const { send, expectAnswer, signSpec } = httpFuzz('headers');

describe('the verify path over HTTP under fuzzing', () => {
  it('forward auth sends X-Auth-Subject exactly as signed, or refuses: never a trimmed " admin" as "admin"', async () => {
    // A header parser trims a value's ends, so a sub with a space at either end would reach the upstream as
    // another subject than the one signed: it must be refused (HEADER_SAFE in edge/src/http/verify-protocol.ts).
    for (const sub of [' admin', 'admin ', ' ', '\u0020root\u0020']) {
      const token = signHs(SIGNERS.active.secret, { alg: 'HS256' }, { sub });
      const answer = await send(verifyRequest('get', token));
      if (answer.status === 200) expect(answer.headers.get('x-auth-subject')).toBe(sub);
      else expect(answer).toMatchObject({ status: 401, body: { valid: false, error: 'claim_invalid' } });
    }
  });

  it('Authorization schemes: only "Bearer <token>" (any case, 1+ spaces) reads a token', async () => {
    const t = signSpec({
      signer: 'active',
      hash: 'sha256',
      header: { alg: 'HS256' },
      claims: { sub: 'frank' },
    });
    const reads: Array<[string, boolean]> = [
      [`Bearer ${t}`, true],
      [`bearer ${t}`, true],
      [`BEARER ${t}`, true],
      [`Bearer    ${t}`, true],
      [`  Bearer ${t}  `, true],
      [`Basic ${t}`, false],
      [`Bearer${t}`, false],
      [`Bearer ${t} extra`, false],
      [`Bearer ${t},Bearer ${t}`, false],
      [`Bearer ${t}, Bearer ${t}`, false],
      [`Token ${t}`, false],
      [`Bearer\t${t}`, false],
      [`Bearer "${t}"`, false],
      [`Bearer ${t}=`, false],
      [`Bearer ${t}.`, false],
      [`Bearer \u00a0${t}`, false],
      [`Bearer ,${t}`, false],
      [`Bearer=${t}`, false],
      [`Bearer: ${t}`, false],
      [`Bear ${t}`, false],
      [`${t}`, false],
      ['Bearer', false],
      ['Bearer ', false],
      ['', false],
    ];
    for (const [authorization, accepted] of reads) {
      for (const method of ['GET', 'POST'] as const) {
        const answer = await send(
          new Request('http://edge.test/verify', { method, headers: { authorization } }),
        );
        expectAnswer(answer, accepted ? t : undefined, method === 'GET');
      }
    }
    // Two Authorization headers are one comma-joined value: not a Bearer token.
    const twice = new Headers();
    twice.append('authorization', `Bearer ${t}`);
    twice.append('authorization', `Bearer ${t}`);
    expectAnswer(await send(new Request('http://edge.test/verify', { headers: twice })), undefined, true);
    // A POST whose header is not a Bearer credential falls back to the body; one whose header is a (bad)
    // Bearer token never looks at the body.
    const fallback = await send(
      new Request('http://edge.test/verify', {
        method: 'POST',
        headers: { authorization: `Basic ${t}` },
        body: JSON.stringify({ token: t }),
      }),
    );
    expectAnswer(fallback, t, false);
    const headerWins = await send(
      new Request('http://edge.test/verify', {
        method: 'POST',
        headers: { authorization: 'Bearer not.a.token' },
        body: JSON.stringify({ token: t }),
      }),
    );
    expectAnswer(headerWins, 'not.a.token', false);
  });

  it('random Authorization values, request headers, methods and paths: no 5xx, no subject from anywhere but a token', async () => {
    const t = signSpec({
      signer: 'active',
      hash: 'sha256',
      header: { alg: 'HS256' },
      claims: { sub: 'grace' },
    });
    const latin1 = fc.string({
      unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
      maxLength: 200,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          latin1,
          latin1.map((s) => `Bearer ${s}`),
          fc.constant(`Bearer ${t}`),
        ),
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        fc.constantFrom(
          '/verify',
          '/verify?token=x',
          '/verify/',
          '/VERIFY',
          '//verify',
          '/verify%00',
          '/keyset',
          '/healthz',
          '/',
        ),
        fc.constantFrom<Record<string, string>>(
          {},
          { 'x-auth-subject': 'root', 'x-auth-kid': 'forged' },
          { 'x-forwarded-user': 'root' },
        ),
        async (authorization, method, path, extra) => {
          const request = new Request(`http://edge.test${path}`, {
            method,
            headers: { ...extra, authorization },
          });
          const answer = await send(request);
          const subject = answer.headers.get('x-auth-subject');
          const isVerify = path === '/verify' || path === '/verify?token=x';
          if (
            answer.status === 200 &&
            isVerify &&
            (method === 'GET' || method === 'HEAD' || method === 'POST')
          ) {
            // Only the one signed token can get here; its subject, nothing from the request.
            expect(authorization).toBe(`Bearer ${t}`);
            if (method !== 'POST') expect(subject).toBe('grace');
          } else {
            expect(subject).toBeNull();
            expect(answer.body.valid).not.toBe(true);
          }
          if (path === '/keyset' && method === 'PUT') expect(answer.status).toBe(400);
        },
      ),
      { numRuns: runs(2500) },
    );
  });
});
