/**
 * scripts/rotate-secrets.sh as cron runs it, against real control planes over loopback (Valkey, a Node edge that
 * confirms): TLS unless KEYWARD_PLAINTEXT=1 says otherwise, the admin token from ADMIN_TOKEN_FILE (the new one of
 * "<old>,<new>"), the token never in the output, and settings that contradict each other refused (2). Its
 * grpcurl path is not run here (no grpcurl on the test machines).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, newAdminToken, startHarness } from '../../test/support/control-plane-harness.ts';
import { ROOT } from '../../test/support/edge-processes.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import { createTestPki, type TestPki } from '../../test/support/self-signed.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { connectSecretService } from '../src/grpc/secret-service-client.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function script(env: Record<string, string>): Promise<Run> {
  return promisify(execFile)('bash', [join(ROOT, 'scripts/rotate-secrets.sh')], {
    cwd: ROOT,
    timeout: 120_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYWARD_DIR: ROOT, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: Run) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

/** The control plane's gRPC address by the name its certificate holds (a TLS server name cannot be an IP). */
const byName = (harness: Harness) => harness.grpcAddress.replace('127.0.0.1', 'localhost');

describe('scripts/rotate-secrets.sh', () => {
  let valkey: ValkeyServer;
  let edge: NodeEdgeServer;
  let pki: TestPki;
  let tokenDir: string;
  let tokenFile: string;
  let secure: Harness;
  let plain: Harness;
  const adminToken = newAdminToken();

  /** The TLS control plane's keyset version, asked over TLS. */
  async function secureVersion(): Promise<number> {
    const client = connectSecretService(secure.grpcAddress, credentials.createSsl(Buffer.from(pki.caPem)));
    try {
      return (await client.getKeyset({ admin_token: adminToken }, { deadlineMs: 15_000 })).version;
    } finally {
      client.close();
    }
  }

  beforeAll(async () => {
    [valkey, edge, pki] = await Promise.all([
      startValkey(),
      startNodeEdgeServer(KEYSET_KEY),
      createTestPki(),
    ]);
    tokenDir = await mkdtemp(join(tmpdir(), 'keyward-rotate-script-'));
    tokenFile = join(tokenDir, 'admin-token');
    // As during a switch: the file holds "<old>,<new>", and the new one is the control plane's.
    await writeFile(tokenFile, `${newAdminToken()},${adminToken}\n`, { mode: 0o600 });
    secure = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey: KEYSET_KEY,
      edgeUrls: [edge.url],
      adminToken,
      env: { GRPC_TLS_CERT: pki.certPath, GRPC_TLS_KEY: pki.keyPath },
    });
    // Plaintext gRPC, the same Valkey: a second replica.
    plain = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey: KEYSET_KEY,
      edgeUrls: [edge.url],
      adminToken,
    });
  });

  afterAll(async () => {
    await secure?.stop();
    await plain?.stop();
    await edge?.close();
    await valkey?.stop();
    await pki?.remove();
    if (tokenDir) await rm(tokenDir, { recursive: true, force: true });
  });

  it('rotates over TLS by default, with the token from ADMIN_TOKEN_FILE, and never prints the token', async () => {
    const before = await secureVersion();
    const run = await script({
      ADMIN_TOKEN_FILE: tokenFile,
      GRPC_TLS_CA: pki.caCertPath,
      KEYWARD_ADDRESS: byName(secure),
    });
    expect(run, run.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('1/1 edges confirmed');
    expect(`${run.stdout}${run.stderr}`.includes(adminToken)).toBe(false);
    expect(await secureVersion()).toBe(before + 1);
  });

  it('does not fall back to plaintext: a plaintext control plane is unreachable (4) unless KEYWARD_PLAINTEXT=1', async () => {
    const before = (await plain.getKeyset()).version;
    const refused = await script({ ADMIN_TOKEN_FILE: tokenFile, KEYWARD_ADDRESS: byName(plain) });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^keyward: unavailable: /);
    const rotated = await script({
      ADMIN_TOKEN_FILE: tokenFile,
      KEYWARD_ADDRESS: byName(plain),
      KEYWARD_PLAINTEXT: '1',
    });
    expect(rotated, rotated.stderr).toMatchObject({ code: 0 });
    expect((await plain.getKeyset()).version).toBeGreaterThan(before);
    // And KEYWARD_PLAINTEXT=1 against the TLS port does not reach it either.
    const mismatched = await script({
      ADMIN_TOKEN_FILE: tokenFile,
      KEYWARD_ADDRESS: byName(secure),
      KEYWARD_PLAINTEXT: '1',
    });
    expect(mismatched.code).toBe(4);
  });

  it.each([
    ['no token at all', {}, /ADMIN_TOKEN_FILE \(or ADMIN_TOKEN\) must be set/],
    [
      'both ADMIN_TOKEN and ADMIN_TOKEN_FILE',
      { ADMIN_TOKEN: 'x'.repeat(64), ADMIN_TOKEN_FILE: 'TOKEN' },
      /not both/,
    ],
    [
      'an unreadable ADMIN_TOKEN_FILE',
      { ADMIN_TOKEN_FILE: '/nonexistent/admin-token' },
      /ADMIN_TOKEN_FILE: cannot read/,
    ],
    [
      'KEYWARD_PLAINTEXT other than 0 or 1',
      { ADMIN_TOKEN_FILE: 'TOKEN', KEYWARD_PLAINTEXT: 'yes' },
      /KEYWARD_PLAINTEXT: /,
    ],
    [
      'GRPC_TLS_CA with KEYWARD_PLAINTEXT=1',
      { ADMIN_TOKEN_FILE: 'TOKEN', KEYWARD_PLAINTEXT: '1', GRPC_TLS_CA: 'CA' },
      /turns TLS off/,
    ],
  ])('exits 2 on %s, changing nothing', async (_, variables: Record<string, string>, message) => {
    const env = Object.fromEntries(
      Object.entries(variables).map(([name, value]) => [
        name,
        value === 'TOKEN' ? tokenFile : value === 'CA' ? pki.caCertPath : value,
      ]),
    );
    const before = (await plain.getKeyset()).version;
    const run = await script({ ...env, KEYWARD_ADDRESS: byName(plain) });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(`${run.stdout}${run.stderr}`.includes(adminToken)).toBe(false);
    expect((await plain.getKeyset()).version).toBe(before);
  });

  const hasGrpcurl = spawnSync('bash', ['-c', 'command -v grpcurl'], { encoding: 'utf8' }).status === 0;
  it.skipIf(hasGrpcurl)('exits 2 naming both when it finds neither the CLI nor grpcurl', async () => {
    const before = (await plain.getKeyset()).version;
    const run = await script({
      ADMIN_TOKEN_FILE: tokenFile,
      KEYWARD_ADDRESS: byName(plain),
      KEYWARD_DIR: tokenDir,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`neither node with ${tokenDir}/bin/keyward.js nor grpcurl is available`);
    expect((await plain.getKeyset()).version).toBe(before);
  });
});
