/**
 * The Node entry serves /verify straight from node:http, and the Worker through the Hono route (Deno and Bun:
 * verify-fetch.test.ts); both adapters hand the same VerifyProtocol its method, Authorization (joined when sent
 * twice) and body (declared, chunked, too large, not UTF-8), so they must answer alike. Differential: every
 * request goes once over HTTP to the Node listener and once to the app's fetch.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { buildKeyset, EDGE_KEYS, seal, secret } from '../../../test/support/keysets.ts';
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
