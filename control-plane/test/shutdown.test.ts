/** `node control-plane/src/main.ts` as operators run it: starts from the environment, drains on SIGTERM, exits 0. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/free-port.ts';
import { SecretServiceClient } from '../src/grpc/proto.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 10_000;

describe('main.ts shutdown', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('drains and exits 0 on %s', async (signal) => {
    const adminToken = randomBytes(48).toString('base64url');
    const jwtSecret = randomBytes(30).toString('base64url'); // 40 characters
    expect(adminToken).toHaveLength(64);
    expect(jwtSecret).toHaveLength(40);
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const proc = spawn(process.execPath, ['control-plane/src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        ADMIN_TOKEN: adminToken,
        SECRET_STORAGE: 'env',
        JWT_SECRET: jwtSecret,
        GRPC_PORT: String(grpcPort),
        HTTP_PORT: String(httpPort),
        HOST: '127.0.0.1',
        ROTATION_INTERVAL: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );

    // Healthy over HTTP within a bounded time.
    const deadline = Date.now() + START_TIMEOUT_MS;
    let health: { status?: string; keyset_version?: number } = {};
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`, {
          signal: AbortSignal.timeout(1_000),
        });
        if (response.status === 200) {
          health = (await response.json()) as typeof health;
          break;
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(health, output).toMatchObject({ status: 'ok', keyset_version: 1 });

    // A gRPC client connected at the time of the signal does not keep the process alive.
    const client = new SecretServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(Date.now() + 5_000, (error) => (error ? reject(error) : resolve())),
    );

    const signalledAt = performance.now();
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    const result = await exited;
    clearTimeout(timer);
    client.close();
    expect(result, output).toEqual({ code: 0, signal: null });
    expect(performance.now() - signalledAt).toBeLessThan(EXIT_TIMEOUT_MS);
    expect(output).toContain('draining');
    expect(output).not.toContain(adminToken);
    expect(output).not.toContain(jwtSecret);
  });
});
