/**
 * Property-based fuzzing of the edge's verify path over HTTP POST /verify (JSON body and Bearer
 * header) and GET /verify (forward auth) through a real edge's fetch (createEdge, Node HMAC primitive), with
 * fuzzed tokens, bodies, headers, methods and content types. Invariants for every request: never a 5xx, always
 * a JSON body with a SPEC error code, never 200 / `valid: true` for a token not signed by a key the edge holds
 * (and still in grace), and `X-Auth-Subject` only ever the `sub` of such a token. Tokens this file signs with a
 * held key carry an oracle (from SPEC section 6) that says exactly when they must verify.
 * test/fuzz/verify-token.fuzz.test.ts fuzzes verifyToken itself; this file fuzzes what reaches it over HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeListener } from '../../edge/src/runtime/node-listener.ts';
import { computeKid } from '../../shared/kid.ts';
import { DEFAULT_MAX_TOKEN_BYTES } from '../../shared/verify-token.ts';
import { b64json, type FuzzEdge, fuzzEdge, signHs } from '../support/jose-by-hand.ts';
import { buildKeyset, EDGE_KEYS, seal, secret } from '../support/keysets.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const NOW_S = NOW / 1000;
const TOLERANCE_MS = 30_000;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

const SPEC_CODES = new Set([
  'token_missing',
  'token_malformed',
  'token_expired',
  'token_not_yet_valid',
  'signature_invalid',
  'key_unknown',
  'algorithm_not_allowed',
  'claim_invalid',
]);
const FORBIDDEN_HEADERS = ['crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'] as const;
/**
 * A `sub` that can travel as X-Auth-Subject unchanged: printable ASCII, and no leading or trailing space, which
 * Headers (and every HTTP parser, as OWS) strips, so that " admin" would reach the upstream as "admin".
 */
const HEADER_SAFE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

type SignerName = 'active' | 'previous' | 'expired' | 'foreign';
const SIGNERS: Record<SignerName, { secret: string; kid: string; verifies: boolean }> = {
  active: { secret: secret('http-fuzz-active'), kid: '', verifies: true },
  previous: { secret: secret('http-fuzz-previous'), kid: '', verifies: true },
  // Held, but its grace period is over at NOW.
  expired: { secret: secret('http-fuzz-expired'), kid: '', verifies: false },
  foreign: { secret: secret('http-fuzz-foreign'), kid: '', verifies: false },
};

let fe: FuzzEdge;
/** The Node entry's listener over the same edge: it answers /verify itself, without edge.fetch. */
let nodeServer: Server;
let nodeBase: string;
/** Tokens this file signed with a held key and an oracle that says they verify: token -> expected answer. */
const shouldVerify = new Map<
  string,
  { kid: string; claims: Record<string, unknown>; forwardAuth: boolean }
>();
let requests = 0;
let verified = 0;

beforeAll(async () => {
  for (const signer of Object.values(SIGNERS)) signer.kid = await computeKid(signer.secret);
  fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
  const keyset = await buildKeyset(4, SIGNERS.active.secret, [
    { secret: SIGNERS.previous.secret, expiresAt: new Date(NOW + 86_400_000) },
    { secret: SIGNERS.expired.secret, expiresAt: new Date(NOW - 1) },
  ]);
  const put = await fe.edge.fetch(
    new Request('http://edge.test/keyset', { method: 'PUT', body: await seal(keyset) }),
  );
  expect(put.status).toBe(200);
  fe.logs.length = 0;
  nodeServer = createServer(createNodeListener(fe.edge));
  await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve));
  nodeBase = `http://127.0.0.1:${(nodeServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  nodeServer.closeAllConnections();
  await new Promise((resolve) => nodeServer.close(resolve));
  console.info(
    `edge-http fuzz: ${requests} requests (edge.fetch, and the Node listener over loopback), ${verified} answered valid`,
  );
});

type Transport = 'post-body' | 'post-bearer' | 'get';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function send(request: Request): Promise<Answer> {
  requests++;
  const response = await fe.edge.fetch(request);
  const text = await response.text();
  expect(response.status, text).toBeLessThan(500);
  expect(fe.logs).toEqual([]);
  const body = request.method === 'HEAD' ? {} : (JSON.parse(text) as Record<string, unknown>);
  return { status: response.status, body, headers: response.headers };
}

function verifyRequest(transport: Transport, token: string): Request {
  const url = 'http://edge.test/verify';
  if (transport === 'post-body') {
    return new Request(url, {
      method: 'POST',
      body: JSON.stringify({ token }),
      headers: { 'content-type': 'application/json' },
    });
  }
  const headers = { authorization: `Bearer ${token}` };
  return transport === 'get' ? new Request(url, { headers }) : new Request(url, { method: 'POST', headers });
}

/**
 * The invariant for one answer. `token` is what the edge was asked about (undefined when the request carried
 * none the edge could read as such); only a token in `shouldVerify` may be answered valid, and then it must be.
 */
function expectAnswer(
  answer: Answer,
  token: string | undefined,
  forwardAuth: boolean,
  mayRefuse = false,
): void {
  const expected = token === undefined ? undefined : shouldVerify.get(token);
  const mustVerify = expected !== undefined && (!forwardAuth || expected.forwardAuth);
  const subject = answer.headers.get('x-auth-subject');
  if (mustVerify && !(mayRefuse && answer.status !== 200)) {
    verified++;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toEqual({ valid: true, kid: expected.kid, claims: expected.claims });
    if (forwardAuth) {
      expect(answer.headers.get('x-auth-kid')).toBe(expected.kid);
      const sub = expected.claims.sub;
      expect(subject).toBe(sub === undefined ? null : sub);
    }
    return;
  }
  expect(answer.status, JSON.stringify({ token: token?.slice(0, 300), body: answer.body })).not.toBe(200);
  expect(answer.body.valid).toBe(false);
  expect(SPEC_CODES.has(answer.body.error as string), String(answer.body.error)).toBe(true);
  expect(subject).toBeNull();
  expect(answer.headers.get('x-auth-kid')).toBeNull();
  if (forwardAuth) {
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  } else {
    expect(answer.status).toBe(401);
  }
}

/** The token through all three transports. */
async function everyTransport(token: string): Promise<void> {
  // The Authorization header cannot carry every string (Headers refuses CR, LF, NUL, non-Latin-1); the
  // JSON body can.
  const headerSafe = /^[\x21-\x7e]+$/.test(token);
  expectAnswer(await send(verifyRequest('post-body', token)), token, false);
  if (!headerSafe) return;
  expectAnswer(await send(verifyRequest('post-bearer', token)), token, false);
  expectAnswer(await send(verifyRequest('get', token)), token, true);
}

/** The same three requests over real loopback HTTP to the Node entry's listener. */
async function everyTransportOverNodeHttp(token: string): Promise<void> {
  const headerSafe = /^[\x21-\x7e]+$/.test(token);
  for (const transport of ['post-body', 'post-bearer', 'get'] as const) {
    if (transport !== 'post-body' && !headerSafe) continue;
    const request = verifyRequest(transport, token);
    requests++;
    const response = await fetch(`${nodeBase}/verify`, {
      method: request.method,
      headers: request.headers,
      body: request.method === 'POST' ? await request.text() : undefined,
    });
    const text = await response.text();
    expect(response.status, text).toBeLessThan(500);
    expect(fe.logs).toEqual([]);
    const answer = { status: response.status, body: JSON.parse(text), headers: response.headers };
    expectAnswer(answer, token, transport === 'get');
  }
}

// ---- tokens signed with held keys, with the oracle -------------------------------------------------------

interface TokenSpec {
  signer: SignerName;
  hash: 'sha256' | 'sha384' | 'sha512';
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

const timeClaim = (center: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: fc.integer({ min: -200, max: 200 }).map((d) => center + d) },
    { weight: 2, arbitrary: fc.integer({ min: -10_000_000, max: 10_000_000 }).map((d) => center + d) },
    { weight: 1, arbitrary: fc.double({ min: center - 100, max: center + 100, noNaN: true }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(1e300, -1e300, 1e308, 0, -1, null, '1999999999', true, [NOW_S], { t: 1 }),
    },
  );

const kidChoice = fc.oneof(
  { weight: 6, arbitrary: fc.constant<'own' | 'none'>('own') },
  { weight: 4, arbitrary: fc.constant<'own' | 'none'>('none') },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom<SignerName>('active', 'previous', 'expired', 'foreign').map((s) => ({ of: s })),
      fc.constantFrom(
        '../../etc/passwd',
        "' OR 1=1 --",
        '\u0000',
        '__proto__',
        'constructor',
        'toString',
        '',
      ),
      fc.string({ maxLength: 50 }),
      fc.constantFrom(42, null, true, ['kid'], { kid: 'x' }),
    ),
  },
);

const tokenSpec: fc.Arbitrary<TokenSpec> = fc
  .record({
    signer: fc.constantFrom<SignerName>('active', 'active', 'previous', 'expired', 'foreign'),
    alg: fc.oneof(
      { weight: 12, arbitrary: fc.constant('HS256') },
      {
        weight: 3,
        arbitrary: fc.constantFrom('HS384', 'HS512', 'none', 'RS256', 'ES256', 'hs256', 'HS256 ', ''),
      },
      { weight: 1, arbitrary: fc.constantFrom(256, null, ['HS256']) },
    ),
    hash: fc.constantFrom<TokenSpec['hash']>('sha256', 'sha256', 'sha256', 'sha384', 'sha512'),
    kid: kidChoice,
    typ: fc.option(fc.constantFrom('JWT', 'at+jwt', 'jwt', ''), { nil: undefined }),
    forbidden: fc.oneof(
      { weight: 8, arbitrary: fc.constant([] as string[]) },
      { weight: 1, arbitrary: fc.subarray([...FORBIDDEN_HEADERS], { minLength: 1 }) },
    ),
    extraHeader: fc.option(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
      {
        nil: undefined,
      },
    ),
    sub: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('alice', 'svc:payments', 'user@example.test') },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'alice\r\nX-Auth-Subject: root',
          'root\u0000',
          'r\u00f6t',
          42,
          { id: 1 },
          null,
        ),
      },
    ),
    exp: timeClaim(NOW_S),
    nbf: timeClaim(NOW_S),
    iat: fc.option(fc.integer({ min: 0, max: 4_000_000_000 }), { nil: undefined }),
    extraClaims: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    padding: fc.oneof(
      { weight: 12, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 9_000 }) },
    ),
  })
  .map((r) => {
    const header: Record<string, unknown> = { ...r.extraHeader };
    for (const name of [...FORBIDDEN_HEADERS, 'alg', 'kid', 'typ']) delete header[name];
    header.alg = r.alg;
    if (r.kid === 'own') header.kid = SIGNERS[r.signer].kid;
    else if (typeof r.kid === 'object' && r.kid !== null && 'of' in r.kid) header.kid = SIGNERS[r.kid.of].kid;
    else if (r.kid !== 'none') header.kid = r.kid;
    if (r.typ !== undefined) header.typ = r.typ;
    for (const name of r.forbidden) header[name] = name === 'b64' ? false : name === 'crit' ? ['exp'] : 'x';
    const claims: Record<string, unknown> = { ...r.extraClaims };
    for (const name of ['sub', 'exp', 'nbf', 'iat', 'iss', 'aud', 'pad']) delete claims[name];
    for (const [name, value] of Object.entries({ sub: r.sub, exp: r.exp, nbf: r.nbf, iat: r.iat })) {
      if (value !== undefined) claims[name] = value;
    }
    if (r.padding > 0) claims.pad = 'p'.repeat(r.padding);
    return { signer: r.signer, hash: r.hash, header, claims };
  });

/** SPEC section 6, as an oracle: does this signed token verify at NOW, over POST and over forward auth? */
function oracle(spec: TokenSpec, token: string): { post: boolean; forwardAuth: boolean } {
  const { header, claims } = spec;
  const signer = SIGNERS[spec.signer];
  const kidOk = header.kid === undefined || header.kid === signer.kid;
  const exp = claims.exp;
  const nbf = claims.nbf;
  const timeOk =
    (exp === undefined || (typeof exp === 'number' && NOW < exp * 1000 + TOLERANCE_MS)) &&
    (nbf === undefined || (typeof nbf === 'number' && NOW >= nbf * 1000 - TOLERANCE_MS));
  const post =
    signer.verifies &&
    header.alg === 'HS256' &&
    spec.hash === 'sha256' &&
    FORBIDDEN_HEADERS.every((name) => !(name in header)) &&
    kidOk &&
    timeOk &&
    token.length <= DEFAULT_MAX_TOKEN_BYTES;
  const sub = claims.sub;
  return {
    post,
    forwardAuth: post && (sub === undefined || (typeof sub === 'string' && HEADER_SAFE.test(sub))),
  };
}

function signSpec(spec: TokenSpec): string {
  const token = signHs(SIGNERS[spec.signer].secret, spec.header, spec.claims, spec.hash);
  const { post, forwardAuth } = oracle(spec, token);
  // The claims as the token carries them (JSON has no -0, no undefined).
  const claims = JSON.parse(JSON.stringify(spec.claims)) as Record<string, unknown>;
  if (post) shouldVerify.set(token, { kid: SIGNERS[spec.signer].kid, claims, forwardAuth });
  return token;
}

// ---- the suite --------------------------------------------------------------------------------------------

describe('the verify path over HTTP under fuzzing', () => {
  it('verifies the plain reference tokens on every transport (sanity of the harness)', async () => {
    const claims = { sub: 'alice', exp: NOW_S + 60 };
    for (const signer of ['active', 'previous'] as const) {
      for (const kid of [true, false]) {
        const header = kid ? { alg: 'HS256', kid: SIGNERS[signer].kid } : { alg: 'HS256' };
        await everyTransport(signSpec({ signer, hash: 'sha256', header, claims }));
      }
    }
    expect(verified).toBe(12);
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
