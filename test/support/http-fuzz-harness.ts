/**
 * The harness of the HTTP verify-path fuzz suites: a real edge (createEdge, Node HMAC primitive) holding a
 * keyset with an active, a previous and an out-of-grace key, driven through edge.fetch (and, when asked, the Node
 * entry's listener over loopback), and the invariant checked on every answer: never a 5xx, always a JSON body
 * with a SPEC error code, never 200 / `valid: true` for a token not signed by a key the edge holds (and still in
 * grace), and `X-Auth-Subject` only ever the `sub` of such a token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect } from 'vitest';
import { createNodeListener } from '../../edge/src/runtime/node-listener.ts';
import { computeKid } from '../../shared/kid.ts';
import { NOW, oracle, SIGNERS, type TokenSpec } from './http-fuzz-tokens.ts';
import { type FuzzEdge, fuzzEdge, signHs } from './jose-by-hand.ts';
import { buildKeyset, EDGE_KEYS, seal } from './keysets.ts';

/** Scales every property's run count; the defaults keep each file well under 30 s on a slow 2-core machine. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
export const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

const SPEC_CODES = new Set([
  'token_missing',
  'token_malformed',
  'token_expired',
  'token_not_yet_valid',
  'signature_invalid',
  'key_unknown',
  'algorithm_not_allowed',
  'claim_invalid',
  'token_revoked',
]);

export type Transport = 'post-body' | 'post-bearer' | 'get';

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** A request to /verify carrying `token` the way `transport` says. */
export function verifyRequest(transport: Transport, token: string): Request {
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

/** One suite's harness; its checks count what they see, and the afterAll prints the counts as `label`. */
export interface HttpFuzz {
  /** Tokens this suite signed with a held key and an oracle that says they verify: token -> expected answer. */
  shouldVerify: Map<string, { kid: string; claims: Record<string, unknown>; forwardAuth: boolean }>;
  /** How many answers so far had to be, and were, valid. */
  readonly verified: number;
  send: (request: Request) => Promise<Answer>;
  expectAnswer: (
    answer: Answer,
    token: string | undefined,
    forwardAuth: boolean,
    mayRefuse?: boolean,
  ) => void;
  everyTransport: (token: string) => Promise<void>;
  /** Needs `nodeListener`. */
  everyTransportOverNodeHttp: (token: string) => Promise<void>;
  /** Signs `spec`, and records in shouldVerify what the oracle says it must verify to. */
  signSpec: (spec: TokenSpec) => string;
}

/** Registers the suite's beforeAll (the edge, and the Node listener when asked) and afterAll. */
export function httpFuzz(label: string, { nodeListener = false } = {}): HttpFuzz {
  let fe: FuzzEdge;
  /** The Node entry's listener over the same edge: it answers /verify itself, without edge.fetch. */
  let nodeServer: Server | undefined;
  let nodeBase: string;
  const shouldVerify: HttpFuzz['shouldVerify'] = new Map();
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
    if (!nodeListener) return;
    const server = createServer(createNodeListener(fe.edge));
    nodeServer = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    nodeBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    const server = nodeServer;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const over = nodeListener ? 'edge.fetch, and the Node listener over loopback' : 'edge.fetch';
    console.info(`edge-http fuzz (${label}): ${requests} requests (${over}), ${verified} answered valid`);
  });

  async function send(request: Request): Promise<Answer> {
    requests++;
    const response = await fe.edge.fetch(request);
    const text = await response.text();
    expect(response.status, text).toBeLessThan(500);
    expect(fe.logs).toEqual([]);
    const body = request.method === 'HEAD' ? {} : (JSON.parse(text) as Record<string, unknown>);
    return { status: response.status, body, headers: response.headers };
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

  /** Signs `spec`, and records in shouldVerify what the oracle says it must verify to. */
  function signSpec(spec: TokenSpec): string {
    const token = signHs(SIGNERS[spec.signer].secret, spec.header, spec.claims, spec.hash);
    const { post, forwardAuth } = oracle(spec, token);
    // The claims as the token carries them (JSON has no -0, no undefined).
    const claims = JSON.parse(JSON.stringify(spec.claims)) as Record<string, unknown>;
    if (post) shouldVerify.set(token, { kid: SIGNERS[spec.signer].kid, claims, forwardAuth });
    return token;
  }

  return {
    shouldVerify,
    get verified() {
      return verified;
    },
    send,
    expectAnswer,
    everyTransport,
    everyTransportOverNodeHttp,
    signSpec,
  };
}
