/**
 * The Node entry serves /verify straight from node:http, and the Worker through the Hono route (Deno and Bun:
 * verify-fetch.test.ts); both adapters hand the same VerifyProtocol its method, Authorization (joined when sent
 * twice) and body (declared, chunked, too large, not UTF-8), so they must answer alike. Differential: every
 * request goes once over HTTP to the Node listener and once to the app's fetch. PUT /keyset and PUT /revocations
 * likewise go straight to the push protocols the Hono routes call: every kind of push, compared between two edges
 * in the same state.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSigner } from '../../../shared/keyset-signing-key.ts';
import { MAX_REVOCATIONS_BYTES, REVOCATIONS_TYPE } from '../../../shared/revocations.ts';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { signManifest } from '../../../shared/signed-manifest.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_KEYSET_KEY,
  FOREIGN_SIGNING_KEY,
  KEYSET_SIGNING_SEED,
  seal,
  secret,
  signManifestOf,
} from '../../../test/support/keysets.ts';
import { revocationBatch, revocationList, signRevocations } from '../../../test/support/revocation-lists.ts';
import {
  viaApp as appAnswer,
  COMPARED_HEADERS,
  type Seen,
  type Sent,
  verifyProtocolRequests,
} from '../../../test/support/verify-protocol-requests.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import { createNodeListener } from '../../src/runtime/node-listener.ts';

const ACTIVE = secret('listener-active');
/** The test control plane's signer (KEYSET_SIGNING_KEY). */
const signer = () => importSigner(KEYSET_SIGNING_SEED);

let edge: Edge;
let server: Server;
let port: number;
const logs: string[] = [];

beforeAll(async () => {
  edge = createEdge({
    env: { ...EDGE_KEYS, MAX_TOKEN_BYTES: '2048' },
    primitive: nodeVerify,
    log: (m) => logs.push(m),
  });
  server = createServer(createNodeListener(edge));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function overHttp(sent: Sent): Promise<Seen> {
  return sendTo(port, sent);
}

function sendTo(port: number, sent: Sent): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const body = sent.body === undefined ? undefined : Buffer.from(sent.body);
    const headers: Record<string, string | string[]> = { ...sent.headers };
    if (body !== undefined && !sent.chunked) headers['content-length'] = String(body.byteLength);
    const req = httpRequest(
      { host: '127.0.0.1', port, method: sent.method, path: sent.path ?? '/verify', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(COMPARED_HEADERS.map((h) => [h, (res.headers[h] as string) ?? null])),
            body: text === '' ? '' : JSON.parse(text),
          });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined && sent.chunked) {
      // No content-length: two chunks, so the listener has to count as it reads.
      req.write(body.subarray(0, body.byteLength >> 1));
      req.end(body.subarray(body.byteLength >> 1));
    } else {
      req.end(body);
    }
  });
}

const viaApp = (sent: Sent) => appAnswer(edge, sent);

describe('the Node listener answers /verify exactly as the Hono app', () => {
  it('without a keyset: 503 keyset_unavailable on both', async () => {
    const sent: Sent = { method: 'POST', body: JSON.stringify({ token: 'a.b.c' }) };
    const [direct, app] = [await overHttp(sent), await viaApp(sent)];
    expect(direct).toEqual(app);
    expect(direct).toMatchObject({ status: 503, body: { valid: false, error: 'keyset_unavailable' } });
  });

  it('with a keyset: the same status, headers and body for every kind of request', async () => {
    expect(
      (await overHttp({ method: 'PUT', path: '/keyset', body: await seal(await buildKeyset(1, ACTIVE)) }))
        .status,
    ).toBe(200);
    const statuses = new Set<number>();
    for (const [name, sent] of await verifyProtocolRequests(ACTIVE)) {
      const direct = await overHttp(sent);
      expect(direct, name).toEqual(await viaApp(sent));
      statuses.add(direct.status);
    }
    // The cases reach every answer /verify has.
    expect([...statuses].sort()).toEqual([200, 401, 404]);
    expect(logs.filter((line) => line.includes('unexpected'))).toEqual([]);
  });
});

/** The answers on one connection, in the order they came (each with a Content-Length, as the listener sends). */
function splitResponses(raw: string): { status: number; body: unknown }[] {
  const answers: { status: number; body: unknown }[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`an incomplete answer: ${JSON.stringify(rest)}`);
    const head = rest.slice(0, end);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
    const body = rest.slice(end + 4, end + 4 + length);
    answers.push({ status: Number(head.slice(9, 12)), body: JSON.parse(body) });
    rest = rest.slice(end + 4 + length);
  }
  return answers;
}

describe('the Node listener answers every /verify reached in one turn of the event loop, in order', () => {
  it('many at once over their own connections: each its own answer, as the Hono app gives it', async () => {
    expect(
      (await overHttp({ method: 'PUT', path: '/keyset', body: await seal(await buildKeyset(1, ACTIVE)) }))
        .status,
    ).toBe(200);
    // /verify only: the other paths' answers count what came before them (/healthz).
    const cases = (await verifyProtocolRequests(ACTIVE)).filter(
      ([, request]) => request.path === undefined || request.path.startsWith('/verify'),
    );
    expect(cases.length).toBeGreaterThan(10);
    // Every case three times, all at once: most arrive in a turn with others.
    const sent = [...cases, ...cases.slice().reverse(), ...cases];
    const answers = await Promise.all(sent.map(([, request]) => overHttp(request)));
    for (const [i, [name, request]] of sent.entries()) {
      expect(answers[i], name).toEqual(await viaApp(request));
    }
  });

  it('pipelined on one connection: the answers in the order of the requests', async () => {
    const { requests, expected } = await pipelined(await threeKinds());
    expect(expected.map((answer) => answer.status)).toContain(200);
    expect(splitResponses(await exchange(requests))).toEqual(expected);
  });

  it('a client gone mid-turn costs the others nothing', async () => {
    const { requests, expected } = await pipelined(await threeKinds());
    // Both connections' requests written in one tick (most likely read in one turn); the first client resets its
    // connection as soon as its requests are out.
    const gone = connect(port, '127.0.0.1');
    const goneClosed = new Promise((resolve) => gone.on('close', resolve).on('error', () => {}));
    gone.write(requests, () => gone.resetAndDestroy());
    const kept = exchange(requests);
    await goneClosed;
    expect(splitResponses(await kept)).toEqual(expected);
    expect(splitResponses(await exchange(requests))).toEqual(expected);
  });
});

/** GET with a valid token, GET with none and POST with a foreign key's token: three different answers. */
async function threeKinds(): Promise<Sent[]> {
  const cases = (await verifyProtocolRequests(ACTIVE)).filter(
    ([name]) => name === 'GET valid' || name === 'GET no token' || name === 'POST foreign key',
  );
  expect(cases).toHaveLength(3);
  return cases.map(([, request]) => request);
}

/** The requests written one after the other (and then again, reversed), and the answers the Hono app gives them. */
async function pipelined(
  sent: Sent[],
): Promise<{ requests: string; expected: { status: number; body: unknown }[] }> {
  const expected = [];
  let requests = '';
  for (const request of [...sent, ...sent.slice().reverse()]) {
    const body = request.body === undefined ? '' : String(request.body);
    const headers = Object.entries(request.headers ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    requests += `${request.method} /verify HTTP/1.1\r\nhost: edge.test\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const { status, body: answer } = await viaApp(request);
    expected.push({ status, body: answer });
  }
  return { requests, expected };
}

/** Everything the listener answers to `requests`, written at once on a new connection that then half-closes. */
async function exchange(requests: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let raw = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    raw += chunk;
  });
  socket.end(requests);
  await new Promise((resolve, reject) => socket.on('close', resolve).on('error', reject));
  return raw;
}

/**
 * Two edges in the same state, one answering over HTTP through the Node listener, the other through the app: each
 * push goes to both, and their answers, log lines and `counter` samples must be the same. Returns the edges, the
 * statuses seen and the samples, for the caller's own checks.
 */
async function pushedToBoth(
  pushes: (edges: { direct: Edge; app: Edge }) => Promise<[string, Sent][]>,
  counter: string,
): Promise<{ direct: Edge; app: Edge; statuses: number[]; samples: string[] }> {
  const lines = { direct: [] as string[], app: [] as string[] };
  const make = (log: string[]) =>
    createEdge({ env: { ...EDGE_KEYS, ACCESS_LOG: 'on' }, primitive: nodeVerify, log: (m) => log.push(m) });
  const [direct, app] = [make(lines.direct), make(lines.app)];
  const listener = createServer(createNodeListener(direct));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const listenerPort = (listener.address() as AddressInfo).port;
  const statuses = new Set<number>();
  try {
    for (const [name, sent] of await pushes({ direct, app })) {
      const over = await sendTo(listenerPort, sent);
      const viaFetch = await appAnswer(app, sent);
      expect(withoutTime(over), name).toEqual(withoutTime(viaFetch));
      statuses.add(over.status);
    }
  } finally {
    listener.closeAllConnections();
    await new Promise((resolve) => listener.close(resolve));
  }
  const durationless = (log: string[]) => log.map((line) => line.replace(/"duration_ms":[0-9.e-]+/, ''));
  expect(durationless(lines.direct)).toEqual(durationless(lines.app));
  expect(lines.direct.filter((line) => line.includes('unexpected'))).toEqual([]);
  const counters = (edge: Edge) =>
    edge
      .fetch(new Request('http://edge.test/metrics'))
      .then(async (response) =>
        (await response.text()).split('\n').filter((line) => line.startsWith(`${counter}{`)),
      );
  const samples = await counters(direct);
  expect(samples).toEqual(await counters(app));
  expect(samples.length).toBeGreaterThan(0);
  return { direct, app, statuses: [...statuses].sort(), samples };
}

describe('the Node listener answers PUT /keyset exactly as the Hono app', () => {
  it('the same status, headers, body, counters and log lines for every kind of push', async () => {
    const other = secret('listener-other');
    const v2 = await seal(await buildKeyset(2, ACTIVE));
    const { direct, statuses } = await pushedToBoth(
      async () => [
        ['a new version: taken', { method: 'PUT', path: '/keyset', body: v2 }],
        ['the same again: held', { method: 'PUT', path: '/keyset', body: v2 }],
        ['with a query', { method: 'PUT', path: '/keyset?from=cp', body: v2 }],
        [
          'chunked',
          { method: 'PUT', path: '/keyset', body: await seal(await buildKeyset(3, ACTIVE)), chunked: true },
        ],
        [
          'an older version: 409',
          { method: 'PUT', path: '/keyset', body: await seal(await buildKeyset(1, ACTIVE)) },
        ],
        [
          'the held version, other keys: 409',
          { method: 'PUT', path: '/keyset', body: await seal(await buildKeyset(3, other)) },
        ],
        ['not UTF-8', { method: 'PUT', path: '/keyset', body: Buffer.from([0xff, 0xfe, 0xfd]) }],
        ['empty', { method: 'PUT', path: '/keyset', body: '' }],
        ['not an envelope', { method: 'PUT', path: '/keyset', body: 'a.b.c' }],
        [
          'another KEYSET_KEY',
          {
            method: 'PUT',
            path: '/keyset',
            body: await seal(await buildKeyset(4, ACTIVE), FOREIGN_KEYSET_KEY),
          },
        ],
        ['declared too large', { method: 'PUT', path: '/keyset', body: 'x'.repeat(70_000) }],
        ['chunked too large', { method: 'PUT', path: '/keyset', body: 'x'.repeat(70_000), chunked: true }],
        ['a trailing slash: not the route', { method: 'PUT', path: '/keyset/', body: v2 }],
      ],
      'keyward_edge_pushes_total',
    );
    expect(statuses).toEqual([200, 400, 401, 404, 409, 413]);
    expect(direct.store.version).toBe(3);
  });
});

describe('the Node listener answers PUT /revocations exactly as the Hono app', () => {
  it('the same status, headers, body, counters and log lines for every kind of push', async () => {
    const now = Date.now();
    const batch = (serial: number) => revocationBatch(serial, now, { jti: [`jti-${serial}`] });
    const list = (from: number, ...serials: number[]) =>
      signRevocations(revocationList(from, serials.map(batch)));
    const put = (body: string | Buffer, extra: Partial<Sent> = {}): Sent => ({
      method: 'PUT',
      path: '/revocations',
      body,
      ...extra,
    });
    const snapshot = await list(0, 1, 2);
    const tooLarge = 'x'.repeat(MAX_REVOCATIONS_BYTES + 1);
    const { direct, app, statuses, samples } = await pushedToBoth(async ({ direct, app }) => {
      const pushes: [string, Sent][] = [
        // No keyset is held yet: a revocation list does not need one.
        ['a snapshot, without a keyset: taken', put(snapshot)],
        ['the same snapshot: held', put(snapshot)],
        ['a delta from the held serial: taken', put(await list(2, 3))],
        ['a delta already held: held', put(await list(1, 2))],
        ['a delta with a query', put(await list(3, 4), { path: '/revocations?from=cp' })],
        ['a delta, chunked', put(await list(4, 5), { chunked: true })],
        ['a delta above the held serial: 409 revocations_behind', put(await list(7, 8))],
        [
          'signed by another key: 401',
          put(await signRevocations(revocationList(5, [batch(6)]), FOREIGN_SIGNING_KEY)),
        ],
        ['a keyset manifest sent as a list: 401', put(await signManifestOf(await buildKeyset(9, ACTIVE)))],
        [
          'signed as a list but not one: 400',
          put(await signManifest(JSON.stringify({ serial: 6 }), await signer(), REVOCATIONS_TYPE)),
        ],
        ['not a JWS', put('not a jws')],
        ['empty', put('')],
        ['not UTF-8', put(Buffer.from([0x65, 0x79, 0xff, 0xfe]))],
        ['declared too large', put(tooLarge)],
        ['chunked too large', put(tooLarge, { chunked: true })],
        ['GET: not the route', { method: 'GET', path: '/revocations' }],
        ['POST: not the route', { method: 'POST', path: '/revocations', body: snapshot }],
        ['a trailing slash: not the route', put(snapshot, { path: '/revocations/' })],
      ];
      // With a keyset held (the same on both): pushes answer as before.
      const keyset = await seal(await buildKeyset(1, ACTIVE));
      for (const edge of [direct, app]) {
        expect((await appAnswer(edge, { method: 'PUT', path: '/keyset', body: keyset })).status).toBe(200);
      }
      return [
        ...pushes,
        ['a delta, with a keyset: taken', put(await list(5, 6))],
        ['a snapshot below the held serial: taken', put(await list(0, 3))],
      ];
    }, 'keyward_edge_revocation_pushes_total');
    expect(statuses).toEqual([200, 400, 401, 404, 409, 413]);
    // Every outcome a push can have was met; the requests that are not the route count none.
    expect(samples.sort()).toEqual([
      'keyward_edge_revocation_pushes_total{outcome="envelope_malformed"} 3',
      'keyward_edge_revocation_pushes_total{outcome="envelope_signature_invalid"} 2',
      'keyward_edge_revocation_pushes_total{outcome="held"} 2',
      'keyward_edge_revocation_pushes_total{outcome="revocations_behind"} 1',
      'keyward_edge_revocation_pushes_total{outcome="revocations_invalid"} 1',
      'keyward_edge_revocation_pushes_total{outcome="revocations_too_large"} 2',
      'keyward_edge_revocation_pushes_total{outcome="taken"} 6',
    ]);
    expect(direct.revocations.serial).toBe(3);
    expect(app.revocations.serial).toBe(3);
  });
});

/** The answer's `time` is the edge's clock: it differs between two edges by nature. */
function withoutTime(seen: Seen): Seen {
  const body = seen.body as Record<string, unknown>;
  if (typeof body !== 'object' || body === null || !('time' in body)) return seen;
  expect(typeof body.time).toBe('number');
  const { time: _, ...rest } = body;
  return { ...seen, body: rest };
}
