/**
 * Property-based fuzzing of the edge's POST /verify with fuzzed bodies: random JSON, non-JSON, invalid UTF-8,
 * tokens of the wrong type, any content type, and bodies and tokens over the size limits (declared, streamed).
 * Through edge.fetch; the invariants are test/support/http-fuzz-harness.ts's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKEN_BYTES } from '../../shared/verify-token.ts';
import { httpFuzz, runs, verifyRequest } from '../support/http-fuzz-harness.ts';

const { send, expectAnswer, everyTransport, signSpec } = httpFuzz('bodies');

describe('the verify path over HTTP under fuzzing', () => {
  it('POST bodies: random JSON, non-JSON, invalid UTF-8, token of the wrong type, any content type', async () => {
    const valid = signSpec({
      signer: 'active',
      hash: 'sha256',
      header: { alg: 'HS256' },
      claims: { sub: 'carol' },
    });
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) ?? 'null', token: undefined })),
      fc
        .oneof(
          fc.constantFrom(42, true, null, [valid], { token: valid }, { value: valid }, 0, -1, ''),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map((t) => ({ text: JSON.stringify({ token: t }), token: typeof t === 'string' ? t : undefined })),
      fc.constant({ text: JSON.stringify({ token: valid }), token: valid }),
      fc.constant({ text: `{"token":"${valid}","token":"x"}`, token: 'x' }),
      fc.constant({ text: `{"token":"x","token":"${valid}"}`, token: valid }),
      fc.constant({ text: ` \n\t{"token" : "${valid}"}\n`, token: valid }),
      fc.constant({ text: `{"token":"${valid}"} trailing`, token: undefined }),
      fc.constant({ text: `token=${valid}`, token: undefined }),
      fc.constant({ text: valid, token: undefined }),
      fc.constant({ text: `"${valid}"`, token: undefined }),
      fc.constant({ text: `${'['.repeat(4000)}${']'.repeat(4000)}`, token: undefined }),
      fc.constant({ text: `{"token":${'['.repeat(4000)}${']'.repeat(4000)}}`, token: undefined }),
      fc.string({ maxLength: 200 }).map((text) => ({ text, token: undefined })),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ text: bytes, token: undefined })),
    );
    const contentType = fc.constantFrom(
      undefined,
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/jwt',
      '*/*',
    );
    await fc.assert(
      fc.asyncProperty(body, contentType, fc.boolean(), async (b, type, gzipLabel) => {
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (gzipLabel) headers['content-encoding'] = 'gzip';
        const text = b.text;
        const request = new Request('http://edge.test/verify', { method: 'POST', body: text, headers });
        // A body the edge can read as JSON with a string token is a token it was asked about; the answer
        // must then be the token's own. Anything else must not verify. SPEC says JSON: under another content
        // type or encoding the edge may verify a good token or refuse it, but never verify a bad one.
        const token = typeof text === 'string' && b.token !== undefined ? b.token : undefined;
        const asSpecified = (type === undefined || type === 'application/json') && !gzipLabel;
        expectAnswer(await send(request), token, false, !asSpecified);
      }),
      { numRuns: runs(3000) },
    );
  });

  it('huge bodies and huge tokens: 401 token_malformed on POST and on forward auth, never a verify', async () => {
    const valid = signSpec({
      signer: 'active',
      hash: 'sha256',
      header: { alg: 'HS256' },
      claims: { sub: 'dave' },
    });
    const limit = DEFAULT_MAX_TOKEN_BYTES + 1024;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: limit + 1, max: limit * 8 }),
        fc.constantFrom('declared', 'stream', 'valid-token-padded'),
        async (size, how) => {
          const text =
            how === 'valid-token-padded'
              ? JSON.stringify({ token: valid, pad: 'x'.repeat(size) })
              : `{"token":"${'A'.repeat(size)}"}`;
          const init: RequestInit & { duplex?: string } = { method: 'POST' };
          if (how === 'stream') {
            const bytes = Buffer.from(text);
            init.body = new ReadableStream<Uint8Array>({
              start(controller) {
                for (let at = 0; at < bytes.length; at += 8192)
                  controller.enqueue(bytes.subarray(at, at + 8192));
                controller.close();
              },
            });
            init.duplex = 'half';
          } else {
            init.body = text;
            init.headers = { 'content-length': String(Buffer.byteLength(text)) };
          }
          const answer = await send(new Request('http://edge.test/verify', init));
          expect(answer).toMatchObject({ status: 401, body: { valid: false, error: 'token_malformed' } });
          expectAnswer(answer, undefined, false);
        },
      ),
      { numRuns: runs(200) },
    );
    // A 10 KB kid makes the token too large before any kid is looked at.
    const hugeKid = signSpec({
      signer: 'active',
      hash: 'sha256',
      header: { alg: 'HS256', kid: 'k'.repeat(10 * 1024) },
      claims: { sub: 'eve' },
    });
    await everyTransport(hugeKid);
    const forward = await send(verifyRequest('get', `${'A'.repeat(100_000)}.B.C`));
    expect(forward.status).toBe(401);
  });
});
