/**
 * SIGHUP replaces the gRPC TLS certificate and key of a running control plane process: new connections get the
 * new identity without a restart; a certificate and key that do not match keep the old ones in force.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ManagedProcess, startProcess } from '../../test/support/managed-process.ts';
import { createTestPki, type TestPki } from '../../test/support/self-signed.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';
import { type RotateSecretResponse, SecretServiceClient } from '../src/grpc/proto.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADMIN_TOKEN = randomBytes(48).toString('base64url');

let first: TestPki;
let second: TestPki;
let dir: string;
let certPath: string;
let keyPath: string;
let child: ManagedProcess;
let grpcPort: string;

beforeAll(async () => {
  [first, second] = await Promise.all([createTestPki('keyward-first'), createTestPki('keyward-second')]);
  dir = await mkdtemp(join(tmpdir(), 'keyward-tls-reload-'));
  certPath = join(dir, 'server.crt');
  keyPath = join(dir, 'server.key');
  await copyFile(first.certPath, certPath);
  await copyFile(first.keyPath, keyPath);
  child = startProcess('control plane', process.execPath, [join(ROOT, 'control-plane/src/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ADMIN_TOKEN,
      SECRET_STORAGE: 'env',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      GRPC_TLS_CERT: certPath,
      GRPC_TLS_KEY: keyPath,
      ROTATION_INTERVAL: 'off',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    },
  });
  const line = (await waitForOutput(child, /^.*control plane listening.*$/m))[0];
  grpcPort = /"grpc_port":(\d+)/.exec(line)?.[1] as string;
}, 60_000);

afterAll(async () => {
  await child?.stop();
  await first?.remove();
  await second?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A RotateSecret on a fresh connection (its own subchannel pool) trusting `ca`; the status code, or 'OK'. */
function rotateTrusting(ca: string): Promise<number | 'OK'> {
  const client = new SecretServiceClient(`localhost:${grpcPort}`, credentials.createSsl(Buffer.from(ca)), {
    'grpc.use_local_subchannel_pool': 1,
  });
  return new Promise((resolve) => {
    client.RotateSecret(
      { admin_token: ADMIN_TOKEN, generate: true },
      { deadline: Date.now() + 10_000 },
      (error: { code?: number } | null, response?: RotateSecretResponse) => {
        client.close();
        resolve(error ? (error.code ?? -1) : response?.success ? 'OK' : -1);
      },
    );
  });
}

const count = (needle: string) => child.output().split(needle).length - 1;

async function sighup(outcome: string): Promise<void> {
  const before = count(outcome);
  child.child.kill('SIGHUP');
  await waitFor(async () => count(outcome) > before || undefined, {
    what: `the control plane to log "${outcome}"`,
    timeoutMs: 10_000,
    intervalMs: 20,
  });
}

describe('gRPC TLS reloaded on SIGHUP', () => {
  it('serves the new certificate to new connections, without a restart', async () => {
    expect(await rotateTrusting(first.caPem)).toBe('OK');
    expect(await rotateTrusting(second.caPem)).toBe(status.UNAVAILABLE);

    await copyFile(second.certPath, certPath);
    await copyFile(second.keyPath, keyPath);
    await sighup('gRPC TLS certificate and key reloaded');
    expect(await rotateTrusting(second.caPem)).toBe('OK');
    expect(await rotateTrusting(first.caPem)).toBe(status.UNAVAILABLE);
  });

  it('a key that does not match the certificate keeps the previous pair and logs an error', async () => {
    await copyFile(first.certPath, certPath); // the second pair's key stays: a mismatch
    await sighup('gRPC TLS reload failed');
    expect(child.output()).toContain('does not match the first certificate in GRPC_TLS_CERT');
    expect(await rotateTrusting(second.caPem)).toBe('OK');
  });

  it('never logs the key or the admin token', () => {
    expect(child.output().includes(ADMIN_TOKEN)).toBe(false);
    expect(child.output().includes(first.keyPem.split('\n')[1] as string)).toBe(false);
    expect(child.output().includes(second.keyPem.split('\n')[1] as string)).toBe(false);
  });
});
