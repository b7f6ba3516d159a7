/**
 * The dashboard's data endpoints over real HTTP on loopback (startHttpServer, env storage): no token, a wrong
 * token or another scheme gets 401 and no data; the brake is the one gRPC uses, so failures here lock the peer
 * out of gRPC too; open streams are bounded, and stopping the feed ends them so the server closes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.ts';
import { AdminAuth } from '../src/admin-auth.ts';
import { DashboardFeed } from '../src/dashboard/dashboard-feed.ts';
import { dashboardState } from '../src/dashboard/dashboard-state.ts';
import { SecretService } from '../src/grpc/secret-service.ts';
import { createHttpApp, startHttpServer } from '../src/http-server.ts';
import { KeysetManager } from '../src/keyset/keyset-manager.ts';
import { createLogger } from '../src/logger.ts';
import { ROTATION_OFF } from '../src/rotation/rotation-status.ts';
import { EnvStorage } from '../src/storage/env-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const SECRET = randomBytes(48).toString('base64');

let manager: KeysetManager;
let auth: AdminAuth;
let feed: DashboardFeed;
let http: { port: number; close(): Promise<void> };
let base: string;

beforeAll(async () => {
  const storage = new EnvStorage(SECRET);
  manager = new KeysetManager({ storage, gracePeriodMs: 86_400_000, cacheTtlMs: 300_000 });
  await manager.start();
  auth = new AdminAuth(ADMIN_TOKEN, { maxFailures: 3, lockoutMs: 60_000 });
  feed = new DashboardFeed({ maxStreams: 1 });
  manager.on('installed', () => feed.notify());
  const state = () =>
    dashboardState({
      keyset: () => manager.keyset(),
      staleBeyondTtl: () => manager.staleBeyondTtl,
      storageKind: storage.kind,
      edges: () => [],
      rotation: async () => ROTATION_OFF,
      auditTail: (count) => storage.auditTail(count),
      now: () => new Date(),
    });
  http = await startHttpServer(createHttpApp({ manager, dashboard: { auth, feed, state } }), {
    host: '127.0.0.1',
    port: 0,
  });
  base = `http://127.0.0.1:${http.port}/dashboard`;
});

afterAll(async () => {
  feed.stop();
  await http.close();
  await manager.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The next whole server-sent event (up to its blank line), or null when the stream has ended. */
async function nextEvent(
  reader: ReadableStreamDefaultReader<string>,
  held = { text: '' },
): Promise<string | null> {
  while (!held.text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) return null;
    held.text += value;
  }
  const end = held.text.indexOf('\n\n');
  const event = held.text.slice(0, end);
  held.text = held.text.slice(end + 2);
  return event;
}

async function openStream(): Promise<ReadableStreamDefaultReader<string>> {
  const open = await fetch(`${base}/events`, { headers: bearer(ADMIN_TOKEN) });
  expect(open.status).toBe(200);
  expect(open.headers.get('content-type')).toBe('text/event-stream');
  return (open.body as NonNullable<typeof open.body>).pipeThrough(new TextDecoderStream()).getReader();
}

describe('the dashboard data endpoints', () => {
  it('answer the admin token with the snapshot, and the page itself holds none of it', async () => {
    const response = await fetch(`${base}/state`, { headers: bearer(ADMIN_TOKEN) });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const state = (await response.json()) as { keys: Array<{ kid: string; status: string }> };
    const kid = state.keys.find((key) => key.status === 'active')?.kid as string;
    expect(kid).toMatch(/^[\w-]{43}$/);
    const page = await fetch(`${base}/`);
    expect(await page.text()).not.toContain(kid);
    const script = await fetch(`${base}/app.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toContain('function dashboardClient');
  });

  it('refuse a missing token, another scheme and a wrong token with 401 and no data', async () => {
    const { keyset } = await manager.keyset();
    for (const headers of [{}, { authorization: `Basic ${ADMIN_TOKEN}` }, bearer(`${ADMIN_TOKEN}x`)]) {
      for (const path of ['state', 'events']) {
        const response = await fetch(`${base}/${path}`, { headers });
        const text = await response.text();
        expect({ path, status: response.status, text }).toEqual({
          path,
          status: 401,
          text: '{"error":"Invalid admin token"}',
        });
        for (const key of keyset.keys) expect(text).not.toContain(key.kid);
      }
      // A success forgets this peer's failures: the brake is tested on its own below.
      expect((await fetch(`${base}/state`, { headers: bearer(ADMIN_TOKEN) })).status).toBe(200);
    }
  });

  it('one open stream at most here: the next is refused with 503; a change reaches the open one', async () => {
    const reader = await openStream();
    const held = { text: '' };
    expect(await nextEvent(reader, held)).toMatch(/^event: state\ndata: \{/);
    const second = await fetch(`${base}/events`, { headers: bearer(ADMIN_TOKEN) });
    expect(second.status).toBe(503);
    await second.body?.cancel();

    await manager.rotate({ actor: 'dashboard-test' });
    const update = (await nextEvent(reader, held)) ?? '';
    expect(update).toContain('"action":"rotate"');
    expect(update).toContain('"actor":"dashboard-test"');
    await reader.cancel();
    // A dashboard that went away frees its place.
    await waitFor(async () => (feed.streams === 0 ? true : undefined), {
      what: 'the cancelled stream to close',
      timeoutMs: 10_000,
    });
  });

  it('stopping the feed ends an open stream (a stopping control plane does not wait on dashboards)', async () => {
    const reader = await openStream();
    const held = { text: '' };
    expect(await nextEvent(reader, held)).toMatch(/^event: state/);
    feed.stop();
    expect(await nextEvent(reader, held)).toBeNull();
    const refused = await fetch(`${base}/events`, { headers: bearer(ADMIN_TOKEN) });
    expect(refused.status).toBe(503);
  });

  it('share the brake with gRPC: failures here lock the peer out of both for wrong tokens, never the right one', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await fetch(`${base}/state`, { headers: bearer('wrong') })).status).toBe(401);
    }
    const locked = await fetch(`${base}/state`, { headers: bearer('wrong') });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await locked.text()).not.toContain('"keys"');
    const service = new SecretService({ manager, auth, logger: createLogger('silent') });
    await expect(service.getKeyset({ peer: '127.0.0.1' }, { admin_token: 'wrong' })).rejects.toMatchObject({
      code: 'rate_limited',
    });
    // The operator behind the same address still gets in, over gRPC and HTTP alike.
    await expect(
      service.getKeyset({ peer: '127.0.0.1' }, { admin_token: ADMIN_TOKEN }),
    ).resolves.toBeDefined();
    expect((await fetch(`${base}/state`, { headers: bearer(ADMIN_TOKEN) })).status).toBe(200);
  });
});
