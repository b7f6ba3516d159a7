/**
 * A control plane cut off from Valkey serves its cached keyset for KEYSET_CACHE_TTL, and then answers GET /keyset
 * with 503: a 304 or 200 past that would tell edges the keyset is still current, and count as confirmation, so
 * their KEYSET_MAX_STALENESS would never fire. A real valkey-server, stopped and started again, and the real
 * control plane on loopback.
 */
import { randomBytes } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYSET_SIGNING_KEY, secret } from '../../test/support/keysets.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { loadConfig } from '../src/config.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane.ts';
import { connectSecretService, type SecretServiceConnection } from '../src/grpc/secret-service-client.ts';
import { createLogger } from '../src/logger.ts';

const CACHE_TTL_MS = 1_000;
const ADMIN_TOKEN = randomBytes(48).toString('base64url');

let valkey: ValkeyServer;
let controlPlane: ControlPlane;
let client: SecretServiceConnection;
let keysetUrl: string;

beforeAll(async () => {
  valkey = await startValkey({ args: ['--save', '3600 1'] });
  const config = loadConfig({
    ADMIN_TOKEN,
    SECRET_STORAGE: 'valkey',
    VALKEY_URL: valkey.url,
    KEYSET_KEY: randomBytes(32).toString('base64url'),
    KEYSET_SIGNING_KEY,
    KEYSET_CACHE_TTL: `${CACHE_TTL_MS}ms`,
    ROTATION_INTERVAL: 'off',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    HOST: '127.0.0.1',
  });
  controlPlane = await startControlPlane(config, createLogger('error', { write: () => {} }));
  client = connectSecretService(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
  keysetUrl = `http://127.0.0.1:${controlPlane.httpPort}/keyset`;
});

afterAll(async () => {
  client?.close();
  await controlPlane?.stop();
  await valkey?.stop();
});

async function rotate(newSecret: string): Promise<void> {
  await client.rotateSecret({ admin_token: ADMIN_TOKEN, new_secret: newSecret }, { deadlineMs: 10_000 });
}

async function getKeyset(etag?: string): Promise<number> {
  const response = await fetch(keysetUrl, {
    headers: etag === undefined ? {} : { 'if-none-match': etag },
    signal: AbortSignal.timeout(10_000),
  });
  await response.body?.cancel();
  return response.status;
}

describe('GET /keyset while storage is unreachable', () => {
  it('serves the cached keyset up to KEYSET_CACHE_TTL, then answers 503 with or without If-None-Match, and serves again once storage is back', async () => {
    // Storage last answers during this rotation (or a re-read just after it): the cache's age counts from then.
    const rotatedFrom = Date.now();
    await rotate(secret('stale-serving'));
    // SIGTERM: Valkey saves its data on the way out (--save below) and finds it again on restart.
    await valkey.kill('SIGTERM');
    const first = await fetch(keysetUrl, { signal: AbortSignal.timeout(10_000) });
    const etag = first.headers.get('etag') ?? '';
    await first.body?.cancel();
    // Within the TTL: the cached keyset is served, and still vouched for.
    expect(first.status).toBe(200);
    expect(await getKeyset(etag)).toBe(304);
    expect(Date.now() - rotatedFrom).toBeLessThan(CACHE_TTL_MS);

    const seen: number[] = [];
    await waitFor(
      async () => {
        const status = await getKeyset(etag);
        seen.push(status);
        return status === 503 ? true : undefined;
      },
      {
        what: 'GET /keyset to answer 503 past KEYSET_CACHE_TTL',
        timeoutMs: CACHE_TTL_MS + 10_000,
        intervalMs: 25,
      },
    );
    expect(Date.now() - rotatedFrom).toBeGreaterThanOrEqual(CACHE_TTL_MS);
    expect(new Set(seen.slice(0, -1))).toEqual(new Set(seen.length > 1 ? [304] : []));
    expect(await getKeyset()).toBe(503);
    expect(await getKeyset(etag)).toBe(503);

    await valkey.restart();
    await waitFor(async () => ((await getKeyset(etag)) === 304 ? true : undefined), {
      what: 'GET /keyset to answer 304 again once storage is back',
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    expect(await getKeyset()).toBe(200);
  });
});
