/**
 * The Node entry serves /verify straight from node:http, and the Worker through the Hono route (Deno and Bun:
 * verify-fetch.test.ts); both adapters hand the same VerifyProtocol its method, Authorization (joined when sent
 * twice) and body (declared, chunked, too large, not UTF-8), so they must answer alike. Differential: every
 * request goes once over HTTP to the Node listener and once to the app's fetch. PUT /keyset likewise goes straight to
 * the KeysetPushProtocol the Hono route calls: every kind of push, compared between two edges in the same state.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { buildKeyset, EDGE_KEYS, FOREIGN_KEYSET_KEY, seal, secret } from '../../../test/support/keysets.ts';
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

describe('the Node listener answers PUT /keyset exactly as the Hono app', () => {
  it('the same status, headers, body, counters and log lines for every kind of push', async () => {
    // Two edges in the same state: one answers over HTTP through the listener, the other through the app.
    const lines = { direct: [] as string[], app: [] as string[] };
    const make = (log: string[]) =>
      createEdge({ env: { ...EDGE_KEYS, ACCESS_LOG: 'on' }, primitive: nodeVerify, log: (m) => log.push(m) });
    const [direct, app] = [make(lines.direct), make(lines.app)];
    const listener = createServer(createNodeListener(direct));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const listenerPort = (listener.address() as AddressInfo).port;
    const other = secret('listener-other');
    const v2 = await seal(await buildKeyset(2, ACTIVE));
    const pushes: [string, Sent][] = [
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
    ];
    const statuses = new Set<number>();
    try {
      for (const [name, sent] of pushes) {
        const over = await sendTo(listenerPort, sent);
        const viaFetch = await appAnswer(app, sent);
        expect(withoutTime(over), name).toEqual(withoutTime(viaFetch));
        statuses.add(over.status);
      }
    } finally {
      listener.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
    }
    expect([...statuses].sort()).toEqual([200, 400, 401, 404, 409, 413]);
    expect(direct.store.version).toBe(3);
    const durationless = (log: string[]) => log.map((line) => line.replace(/"duration_ms":[0-9.e-]+/, ''));
    expect(durationless(lines.direct)).toEqual(durationless(lines.app));
    expect(lines.direct.filter((line) => line.includes('unexpected'))).toEqual([]);
    const counters = (edge: Edge) =>
      edge
        .fetch(new Request('http://edge.test/metrics'))
        .then(async (response) =>
          (await response.text()).split('\n').filter((line) => line.startsWith('keyward_edge_pushes_total{')),
        );
    expect(await counters(direct)).toEqual(await counters(app));
    expect((await counters(direct)).length).toBeGreaterThan(0);
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
