/**
 * One version, two keysets (what a restore from a backup makes): the edge refuses the second with 409
 * keyset_conflict whether it is pushed or pulled, and the control plane's pusher moves the keyset above every
 * version an edge reported and pushes again, so the edge ends up holding the control plane's keys. Real control
 * planes (KeysetManager over in-memory storage, GET /keyset over loopback) and real Node edges.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createEdge } from '../../edge/src/create-edge.ts';
import { sealKeyset } from '../../shared/keyset-envelope.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { startEnvKeysetManager } from '../../test/support/env-keyset-manager.ts';
import { KEYSET_VERIFY_KEY, sealingKeys } from '../../test/support/keysets.ts';
import { startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import { createHttpApp, startHttpServer } from '../src/http-server.ts';
import type { KeysetManager } from '../src/keyset/keyset-manager.ts';
import { EdgePusher } from '../src/push/edge-pusher.ts';

const KEYSET_KEY = randomBytes(32);
const KEYSET_KEY_TEXT = KEYSET_KEY.toString('base64url');
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function controlPlane(): Promise<KeysetManager> {
  const manager = await startEnvKeysetManager(KEYSET_KEY);
  cleanups.push(() => manager.stop());
  return manager;
}

async function edge() {
  const server = await startNodeEdgeServer(KEYSET_KEY_TEXT);
  cleanups.push(() => server.close());
  return server;
}

function pusherFor(manager: KeysetManager, urls: string[], withMoveAbove = true): EdgePusher {
  const pusher = new EdgePusher({
    urls,
    retries: 0,
    backgroundRetries: 0,
    moveAbove: withMoveAbove
      ? (reported, pushed) => manager.moveAbove(reported, pushed.keyset.version)
      : undefined,
  });
  cleanups.push(async () => pusher.stop());
  return pusher;
}

async function put(url: string, envelope: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/keyset`, { method: 'PUT', body: envelope });
  return { status: response.status, body: await response.json() };
}

describe('the edge', () => {
  it('answers 409 keyset_conflict to a push of the held version with other content, 200 to the same keyset', async () => {
    const [a, b] = [await controlPlane(), await controlPlane()];
    const held = (await a.keyset()).envelope as string;
    const other = (await b.keyset()).envelope as string;
    const target = await edge();
    expect(await put(target.url, held)).toMatchObject({ status: 200, body: { version: 1 } });
    expect(await put(target.url, other)).toEqual({
      status: 409,
      body: { error: 'keyset_conflict', version: 1 },
    });
    expect(target.edge.store.ring?.byKid.has((await a.keyset()).keyset.keys[0]?.kid as string)).toBe(true);
    // The same keyset sealed again (new envelope bytes) is still "held", not a conflict.
    const resealed = await sealKeyset((await a.keyset()).keyset, await sealingKeys(KEYSET_KEY));
    expect(resealed).not.toBe(held);
    expect(await put(target.url, resealed)).toMatchObject({ status: 200, body: { version: 1 } });
  });

  it('counts a pull of the held version with other content as a failed pull, not a confirmation', async () => {
    const [a, b] = [await controlPlane(), await controlPlane()];
    const http = await startHttpServer(createHttpApp({ manager: b }), { host: '127.0.0.1', port: 0 });
    cleanups.push(http.close);
    let now = 1_000_000;
    const logs: string[] = [];
    const pulling = createEdge({
      env: {
        KEYSET_KEY: KEYSET_KEY_TEXT,
        KEYSET_VERIFY_KEY,
        KEYSET_URL: `http://127.0.0.1:${http.port}/keyset`,
      },
      primitive: nodeVerify,
      now: () => now,
      log: (line) => logs.push(line),
    });
    const pushed = await pulling.fetch(
      new Request('http://edge.test/keyset', { method: 'PUT', body: (await a.keyset()).envelope }),
    );
    expect(pushed.status).toBe(200);
    now += 1_000;
    for (let pull = 0; pull < 2; pull++) {
      const report = await pulling.refresh('scheduled');
      expect(report.failures.join()).toContain('keyset_conflict');
      expect(pulling.store.confirmedAt).toBe(0);
    }
    expect(logs.some((line) => line.includes('keyset_conflict'))).toBe(true);
  });
});

describe('the pusher', () => {
  it('moves above an edge holding another keyset at the pushed version, and the edge takes it', async () => {
    const [a, b] = [await controlPlane(), await controlPlane()];
    const target = await edge();
    expect((await put(target.url, (await a.keyset()).envelope as string)).status).toBe(200);
    const [outcome] = await pusherFor(b, [target.url]).pushAll(await b.keyset());
    expect(outcome).toMatchObject({ url: target.url, confirmed: true, version: 2, error: '' });
    expect((await b.keyset()).keyset.version).toBe(2);
    const bKid = (await b.keyset()).keyset.keys[0]?.kid as string;
    expect(target.edge.store.version).toBe(2);
    expect(target.edge.store.ring?.byKid.has(bKid)).toBe(true);
  });

  it('moves above the highest version any edge reported, and every edge takes it', async () => {
    const [a, b] = [await controlPlane(), await controlPlane()];
    for (let i = 0; i < 4; i++) await a.rotate();
    const ahead = await edge();
    const level = await edge();
    expect((await put(ahead.url, (await a.keyset()).envelope as string)).body).toMatchObject({ version: 5 });
    expect((await put(level.url, (await b.keyset()).envelope as string)).status).toBe(200);
    await b.rotate();
    const outcomes = await pusherFor(b, [ahead.url, level.url]).pushAll(await b.keyset());
    expect(outcomes.map((edge) => [edge.confirmed, edge.version])).toEqual([
      [true, 6],
      [true, 6],
    ]);
    expect([ahead.edge.store.version, level.edge.store.version]).toEqual([6, 6]);
  });

  it('without moveAbove reports an edge holding another keyset at the pushed version as not confirmed', async () => {
    const [a, b] = [await controlPlane(), await controlPlane()];
    const target = await edge();
    await put(target.url, (await a.keyset()).envelope as string);
    const [outcome] = await pusherFor(b, [target.url], false).pushAll(await b.keyset());
    expect(outcome).toMatchObject({ confirmed: false, error: 'keyset_conflict: edge holds version 1' });
  });
});

describe('a compromised edge', () => {
  it('cannot move the control plane to a version no keyset can carry, nor count as confirmed by saying so', async () => {
    const b = await controlPlane();
    const liar = createServer((_request, response) => {
      response.writeHead(409, { 'content-type': 'application/json' });
      response.end('{"error":"keyset_conflict","version":1e300}');
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => liar.close(() => resolve())));
    const url = `http://127.0.0.1:${(liar.address() as { port: number }).port}`;
    const [outcome] = await pusherFor(b, [url]).pushAll(await b.keyset());
    expect(outcome).toMatchObject({ confirmed: false, error: 'HTTP 409 without a usable version' });
    expect((await b.keyset()).keyset.version).toBe(1);
  });
});
