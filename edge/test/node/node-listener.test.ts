/**
 * The Node entry serves /verify straight from node:http, and the Worker, Deno and Bun through the Hono route; both
 * adapters hand the same VerifyProtocol its method, Authorization (joined when sent twice) and body (declared,
 * chunked, too large, not UTF-8), so they must answer alike. Differential: every request goes once over HTTP to
 * the Node listener and once to the app's fetch.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../../shared/kid.ts';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  seal,
  secret,
  signByHand,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import { createNodeListener } from '../../src/runtime/node-listener.ts';

interface Sent {
  method: 'GET' | 'POST' | 'PUT';
  path?: string;
  /** An array sends the header once per value. */
  headers?: Record<string, string | string[]>;
  /** Sent with a content-length unless `chunked`. */
  body?: string | Buffer;
  chunked?: boolean;
}

interface Seen {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

const COMPARED_HEADERS = [
  'content-type',
  'cache-control',
  'www-authenticate',
  'x-auth-kid',
  'x-auth-subject',
];
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

async function viaApp(sent: Sent): Promise<Seen> {
  const response = await edge.fetch(
    new Request(`http://edge.test${sent.path ?? '/verify'}`, {
      method: sent.method,
      headers: Object.entries(sent.headers ?? {}).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((one): [string, string] => [name, one]),
      ),
      body: sent.body === undefined ? undefined : new Uint8Array(Buffer.from(sent.body)),
    }),
  );
  const text = await response.text();
  return {
    status: response.status,
    headers: Object.fromEntries(COMPARED_HEADERS.map((h) => [h, response.headers.get(h)])),
    body: text === '' ? '' : JSON.parse(text),
  };
}

async function cases(): Promise<[string, Sent][]> {
  const kid = await computeKid(ACTIVE);
  const good = await signWithJose(ACTIVE, { sub: 'alice', exp: epochSeconds(Date.now()) + 600 }, { kid });
  const json = (value: unknown) => ({ 'content-type': 'application/json', body: JSON.stringify(value) });
  const post = (value: unknown): Sent => {
    const { body, ...headers } = json(value);
    return { method: 'POST', headers, body };
  };
  return [
    ['POST JSON, valid', post({ token: good })],
    ['POST JSON, chunked', { ...post({ token: good }), chunked: true }],
    ['POST Bearer', { method: 'POST', headers: { authorization: `Bearer ${good}` } }],
    ['POST Bearer wins over body', { ...post({ token: 'x' }), headers: { authorization: `Bearer ${good}` } }],
    ['POST expired', post({ token: await signByHand(ACTIVE, { sub: 'a', exp: 1 }) })],
    ['POST foreign key', post({ token: await signByHand(secret('listener-other'), { sub: 'a' }) })],
    ['POST no token', post({})],
    ['POST token null', post({ token: null })],
    ['POST token number', post({ token: 42 })],
    ['POST array body', post([good])],
    ['POST not JSON', { method: 'POST', body: 'token=abc' }],
    ['POST empty body', { method: 'POST', body: '' }],
    ['POST no body', { method: 'POST' }],
    ['POST not UTF-8', { method: 'POST', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }],
    ['POST too large (declared)', post({ token: 'a'.repeat(4000) })],
    ['POST too large (chunked)', { ...post({ token: 'a'.repeat(4000) }), chunked: true }],
    ['GET valid', { method: 'GET', headers: { authorization: `Bearer ${good}` } }],
    ['GET no token', { method: 'GET' }],
    // A proxy that appends a header: the web Headers joins both into one value, so must the listener.
    [
      'GET two Authorization headers',
      { method: 'GET', headers: { authorization: [`Bearer ${good}`, 'Bearer junk'] } },
    ],
    [
      'POST two Authorization headers',
      { method: 'POST', headers: { authorization: [`Bearer ${good}`, 'Bearer junk'] } },
    ],
    ['GET wrong scheme', { method: 'GET', headers: { authorization: `Basic ${good}` } }],
    [
      'GET sub not text',
      { method: 'GET', headers: { authorization: `Bearer ${await signByHand(ACTIVE, { sub: 7 })}` } },
    ],
    [
      'GET with query',
      { method: 'GET', path: '/verify?from=nginx', headers: { authorization: `Bearer ${good}` } },
    ],
    ['healthz (Hono)', { method: 'GET', path: '/healthz' }],
    ['unknown path (Hono)', { method: 'GET', path: '/nope' }],
  ];
}

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
    for (const [name, sent] of await cases()) {
      const direct = await overHttp(sent);
      expect(direct, name).toEqual(await viaApp(sent));
      statuses.add(direct.status);
    }
    // The cases reach every answer /verify has.
    expect([...statuses].sort()).toEqual([200, 401, 404]);
    expect(logs.filter((line) => line.includes('unexpected'))).toEqual([]);
  });
});
