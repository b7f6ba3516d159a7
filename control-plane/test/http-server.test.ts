/**
 * Start-up on a port that is taken: the HTTP and gRPC start functions reject with an error naming the port
 * variable and the address, instead of an uncaught listen error (a crash with a stack) and a promise that never
 * settles. Real servers on 127.0.0.1: a node:net server holds the port. And what GET /metrics says about a
 * revocation.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminAuth } from '../src/admin-auth.ts';
import { startGrpcServer } from '../src/grpc/grpc-server.ts';
import { SecretService } from '../src/grpc/secret-service.ts';
import { createHttpApp, startHttpServer } from '../src/http-server.ts';
import { KeysetManager } from '../src/keyset/keyset-manager.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics } from '../src/metrics.ts';
import { EnvStorage } from '../src/storage/env-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const SECRET = randomBytes(48).toString('base64');

let manager: KeysetManager;
let occupier: Server;
let busyPort: number;

beforeAll(async () => {
  manager = new KeysetManager({
    storage: new EnvStorage(SECRET),
    gracePeriodMs: 86_400_000,
    cacheTtlMs: 300_000,
  });
  await manager.start();
  occupier = createServer();
  await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
  busyPort = (occupier.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => occupier.close(resolve));
  await manager.stop();
});

/** The promise's outcome, or a failure once `ms` have passed: a start that never settles fails the test. */
async function settled<T>(promise: Promise<T>, ms = 5_000): Promise<{ value?: T; error?: Error }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: Error) => ({ error }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('startHttpServer', () => {
  it('rejects on a busy HTTP_PORT, naming HTTP_PORT and the address', async () => {
    const { value, error } = await settled(
      startHttpServer(createHttpApp({ manager }), { host: '127.0.0.1', port: busyPort }),
    );
    await value?.close();
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toBe(`HTTP_PORT ${busyPort} on 127.0.0.1: address in use (EADDRINUSE)`);
    expect(error?.message).not.toContain(SECRET);
  });

  it('still starts on a free port and serves /healthz', async () => {
    const { value, error } = await settled(
      startHttpServer(createHttpApp({ manager }), { host: '127.0.0.1', port: 0 }),
    );
    expect(error).toBeUndefined();
    try {
      const response = await fetch(`http://127.0.0.1:${value?.port}/healthz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'ok', storage: 'env' });
    } finally {
      await value?.close();
    }
  });
});

describe('startGrpcServer', () => {
  it('rejects on a busy GRPC_PORT, naming GRPC_PORT and the address', async () => {
    const service = new SecretService({
      manager,
      auth: new AdminAuth(ADMIN_TOKEN),
      logger: createLogger('silent'),
    });
    const { value, error } = await settled(startGrpcServer(service, { host: '127.0.0.1', port: busyPort }));
    await value?.shutdown(0);
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toBe(`GRPC_PORT ${busyPort} on 127.0.0.1: address in use (EADDRINUSE)`);
    expect(error?.message).not.toContain(ADMIN_TOKEN);
  });
});

describe('GET /metrics', () => {
  it('counts a RevokeKey as kind="revoke", and the help text of keyward_rotations_total lists it', async () => {
    const metrics = createMetrics();
    const service = new SecretService({
      manager,
      auth: new AdminAuth(ADMIN_TOKEN),
      logger: createLogger('silent'),
      metrics,
    });
    const ctx = { peer: '127.0.0.1' };
    await service.rotateSecret(ctx, {
      admin_token: ADMIN_TOKEN,
      new_secret: '',
      generate: true,
      emergency: false,
    });
    const previous = (await manager.keyset()).keyset.keys.find((key) => key.status === 'previous');
    await service.revokeKey(ctx, { admin_token: ADMIN_TOKEN, kid: previous?.kid as string });
    const http = await startHttpServer(createHttpApp({ manager, metrics }), { host: '127.0.0.1', port: 0 });
    try {
      const text = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
      expect(text).toMatch(/^keyward_rotations_total\{kind="revoke"\} 1$/m);
      expect(text).toMatch(/^keyward_rotations_total\{kind="manual"\} 1$/m);
      const help = /^# HELP keyward_rotations_total (.*)$/m.exec(text)?.[1] ?? '';
      for (const kind of ['manual', 'emergency', 'scheduled', 'revoke']) expect(help).toContain(kind);
      expect(text).not.toContain(ADMIN_TOKEN);
    } finally {
      await http.close();
    }
  });
});
