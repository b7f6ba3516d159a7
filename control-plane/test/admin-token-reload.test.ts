/**
 * Replacing ADMIN_TOKEN without downtime, on a real control plane process: ADMIN_TOKEN_FILE holds the old token,
 * then "old,new", then "new", each applied by SIGHUP while the process keeps serving.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlPlaneProcess,
  startControlPlaneProcess,
} from '../../test/support/control-plane-process.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { waitFor } from '../../test/support/wait-for.ts';

const OLD_TOKEN = randomBytes(48).toString('base64url');
const NEW_TOKEN = randomBytes(48).toString('base64url');

let valkey: ValkeyServer;
let dir: string;
let tokenFile: string;
let controlPlane: ControlPlaneProcess;

beforeAll(async () => {
  valkey = await startValkey();
  dir = await mkdtemp(join(tmpdir(), 'keyward-token-reload-'));
  tokenFile = join(dir, 'admin-token');
  await writeFile(tokenFile, `${OLD_TOKEN}\n`);
  controlPlane = await startControlPlaneProcess({
    valkeyUrl: valkey.url,
    keysetKey: KEYSET_KEY,
    edgeUrls: [],
    gracePeriod: '1h',
    adminTokenFile: tokenFile,
  });
}, 60_000);

afterAll(async () => {
  await controlPlane?.stop();
  await valkey?.stop();
  await rm(dir, { recursive: true, force: true });
});

const count = (text: string, needle: string) => text.split(needle).length - 1;

/** Sends SIGHUP and waits until the process has logged one more line containing `outcome`. */
async function sighup(outcome: string): Promise<void> {
  const before = count(controlPlane.process.output(), outcome);
  controlPlane.process.child.kill('SIGHUP');
  await waitFor(async () => count(controlPlane.process.output(), outcome) > before || undefined, {
    what: `the control plane to log "${outcome}"`,
    timeoutMs: 10_000,
    intervalMs: 20,
  });
}

async function refusal(token: string): Promise<number | undefined> {
  try {
    await controlPlane.rotateAs(token, { generate: true });
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

describe('ADMIN_TOKEN_FILE reloaded on SIGHUP', () => {
  it('takes old, then old and new, then new only; the old token is refused at the end', async () => {
    expect((await controlPlane.rotateAs(OLD_TOKEN, { generate: true })).success).toBe(true);
    expect(await refusal(NEW_TOKEN)).toBe(status.PERMISSION_DENIED);

    await writeFile(tokenFile, `${OLD_TOKEN},${NEW_TOKEN}\n`);
    await sighup('admin tokens reloaded');
    expect((await controlPlane.rotateAs(NEW_TOKEN, { generate: true })).success).toBe(true);
    expect((await controlPlane.rotateAs(OLD_TOKEN, { generate: true })).success).toBe(true);

    await writeFile(tokenFile, `${NEW_TOKEN}\n`);
    await sighup('admin tokens reloaded');
    expect(await refusal(OLD_TOKEN)).toBe(status.PERMISSION_DENIED);
    expect((await controlPlane.rotateAs(NEW_TOKEN, { generate: true })).success).toBe(true);
  });

  it('a bad file on SIGHUP keeps the tokens in force and logs an error naming the variable', async () => {
    await writeFile(tokenFile, 'too-short\n');
    await sighup('admin token reload failed');
    expect((await controlPlane.rotateAs(NEW_TOKEN, { generate: true })).success).toBe(true);

    await rm(tokenFile);
    await sighup('admin token reload failed');
    expect(controlPlane.process.output()).toContain(tokenFile);
    expect((await controlPlane.rotateAs(NEW_TOKEN, { generate: true })).success).toBe(true);
  });

  it('never logs a token', () => {
    const output = controlPlane.process.output();
    expect(output).not.toContain(OLD_TOKEN);
    expect(output).not.toContain(NEW_TOKEN);
    expect(output).not.toContain('too-short');
  });
});
