/**
 * The control plane's probes with a real valkey-server, stopped and started again: GET /livez stays 200 all
 * along; GET /readyz and grpc.health.v1 (Check and Watch, for "" and SecretService) turn not ready once storage
 * has not answered for longer than KEYSET_CACHE_TTL, and ready again once it answers. GET /healthz keeps
 * serving the cached keyset meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthStatus } from '../../test/support/grpc-health.ts';
import { type HealthWatch, watchHealth } from '../../test/support/grpc-health-watch.ts';
import { KEYSET_SIGNING_KEY } from '../../test/support/keysets.ts';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { loadConfig } from '../src/config.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane.ts';
import { createLogger } from '../src/logger.ts';

const CACHE_TTL_MS = 1_000;
const SERVICES = ['', 'cpc.orchestrator.SecretService'];

let valkey: ValkeyServer;
let proxy: TcpProxy;
let controlPlane: ControlPlane;
let base: string;
let grpcAddress: string;

beforeAll(async () => {
  valkey = await startValkey({ args: ['--save', '3600 1'] });
  proxy = await startTcpProxy({ port: valkey.port });
  const config = loadConfig({
    ADMIN_TOKEN: randomBytes(48).toString('base64url'),
    SECRET_STORAGE: 'valkey',
    // Through a proxy, which the second test cuts; the first stops Valkey itself.
    VALKEY_URL: proxy.url,
    KEYSET_KEY: randomBytes(32).toString('base64url'),
    KEYSET_SIGNING_KEY,
    KEYSET_CACHE_TTL: `${CACHE_TTL_MS}ms`,
    ROTATION_INTERVAL: 'off',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    HOST: '127.0.0.1',
  });
  controlPlane = await startControlPlane(config, createLogger('error', { write: () => {} }));
  base = `http://127.0.0.1:${controlPlane.httpPort}`;
  grpcAddress = `127.0.0.1:${controlPlane.grpcPort}`;
});

afterAll(async () => {
  await controlPlane?.stop();
  await proxy?.close();
  await valkey?.stop();
});

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function grpcStatuses(): Promise<string[]> {
  return Promise.all(SERVICES.map((service) => healthStatus(grpcAddress, service)));
}

const READY = { status: 200, body: { status: 'ready' } };
const LIVE = { status: 200, body: { status: 'ok' } };

describe('probes while Valkey goes away and comes back', () => {
  it('stays live; turns not ready (storage_unreachable) past KEYSET_CACHE_TTL on HTTP and gRPC health, then ready again', async () => {
    expect(await get('/livez')).toEqual(LIVE);
    expect(await get('/readyz')).toEqual(READY);
    expect(await grpcStatuses()).toEqual(['SERVING', 'SERVING']);
    const version = (await get('/healthz')).body.keyset_version;
    expect(version).toBeGreaterThan(0);

    const watches: HealthWatch[] = SERVICES.map((service) => watchHealth(grpcAddress, service));
    try {
      await waitFor(async () => (watches.every((watch) => watch.statuses.length > 0) ? true : undefined), {
        what: 'each Watch stream to report the status at start',
        timeoutMs: 10_000,
        intervalMs: 25,
      });

      // SIGTERM: Valkey saves its data on the way out (--save) and finds it again on restart.
      await valkey.kill('SIGTERM');
      const notReady = await waitFor(
        async () => {
          const answer = await get('/readyz');
          return answer.status === 503 ? answer : undefined;
        },
        {
          what: 'GET /readyz to answer 503 past KEYSET_CACHE_TTL',
          timeoutMs: CACHE_TTL_MS + 15_000,
          intervalMs: 50,
        },
      );
      expect(notReady.body).toEqual({ status: 'not_ready', reasons: ['storage_unreachable'] });
      expect(await get('/livez')).toEqual(LIVE);
      // /healthz as specified: the cached keyset, served while storage is away.
      expect(await get('/healthz')).toMatchObject({
        status: 200,
        body: { status: 'ok', keyset_version: version },
      });
      await waitFor(
        async () => ((await grpcStatuses()).every((status) => status === 'NOT_SERVING') ? true : undefined),
        { what: 'gRPC health to report NOT_SERVING', timeoutMs: 10_000, intervalMs: 50 },
      );

      await valkey.restart();
      await waitFor(async () => ((await get('/readyz')).status === 200 ? true : undefined), {
        what: 'GET /readyz to answer 200 once Valkey is back',
        timeoutMs: 15_000,
        intervalMs: 50,
      });
      expect(await get('/readyz')).toEqual(READY);
      await waitFor(
        async () => ((await grpcStatuses()).every((status) => status === 'SERVING') ? true : undefined),
        { what: 'gRPC health to report SERVING again', timeoutMs: 10_000, intervalMs: 50 },
      );
      expect(await get('/livez')).toEqual(LIVE);

      // Watch streams saw each transition, in order.
      await waitFor(async () => (watches.every((watch) => watch.statuses.length >= 3) ? true : undefined), {
        what: 'each Watch stream to report the way down and back',
        timeoutMs: 10_000,
        intervalMs: 25,
      });
      for (const watch of watches) expect(watch.statuses).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    } finally {
      for (const watch of watches) watch.close();
    }
  });

  it('a blackholed Valkey (reads hang until the command timeout): not ready, still live; ready again once healed', async () => {
    await waitFor(async () => ((await get('/readyz')).status === 200 ? true : undefined), {
      what: 'GET /readyz to answer 200 at the start',
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    proxy.cut('blackhole');
    // The HTTP answer waits for the read under way, which fails at the Valkey command timeout.
    const notReady = await waitFor(
      async () => {
        const answer = await get('/readyz');
        return answer.status === 503 ? answer : undefined;
      },
      { what: 'GET /readyz to answer 503 while Valkey is blackholed', timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(notReady.body).toEqual({ status: 'not_ready', reasons: ['storage_unreachable'] });
    expect(await get('/livez')).toEqual(LIVE);
    await waitFor(
      async () => ((await grpcStatuses()).every((status) => status === 'NOT_SERVING') ? true : undefined),
      { what: 'gRPC health to report NOT_SERVING', timeoutMs: 30_000, intervalMs: 50 },
    );

    proxy.heal({ held: 'reset' });
    await waitFor(async () => ((await get('/readyz')).status === 200 ? true : undefined), {
      what: 'GET /readyz to answer 200 once healed',
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    await waitFor(
      async () => ((await grpcStatuses()).every((status) => status === 'SERVING') ? true : undefined),
      { what: 'gRPC health to report SERVING again', timeoutMs: 30_000, intervalMs: 50 },
    );
  });
});
