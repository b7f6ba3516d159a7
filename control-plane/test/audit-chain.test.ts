/**
 * The keyset chain and the audit log in Valkey, checked by `npx keyward audit` (the CLI run as its own
 * process against a real valkey-server): a clean history verifies; an audit entry edited in Valkey, an entry
 * deleted, and a keyset link edited are each found and named, with a non-zero exit. Entries carry no secret
 * and no admin token. Admin actions come over real gRPC on loopback.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Valkey } from 'iovalkey';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { parseKeyset } from '../../shared/keyset-envelope.ts';
import { keysetHash } from '../../shared/keyset-hash.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { newKeysetKey, newSecret } from '../../test/support/sign-token.ts';
import { connectAdmin } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { entryHash } from '../src/audit/audit-entry.ts';
import { verifyAuditLog, verifyKeysetChain } from '../src/audit/verify-audit.ts';
import { KeysetManager } from '../src/keyset/keyset-manager.ts';
import { EnvStorage } from '../src/storage/env-storage.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KEYSET_KEY = newKeysetKey();
let valkey: ValkeyServer;
let admin: Valkey;
let plane: Harness;
const secrets: string[] = [];

/** `keyward audit` as an operator runs it: its exit code and what it printed. */
async function audit(): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['control-plane/src/cli.ts', 'audit'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, VALKEY_URL: valkey.url },
    });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

beforeAll(async () => {
  valkey = await startValkey();
  admin = await connectAdmin(valkey.url);
});

beforeEach(async () => {
  await plane?.stop();
  await admin.flushall();
  plane = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY });
  for (let i = 0; i < 3; i++) {
    const secret = newSecret();
    secrets.push(secret);
    await plane.rotate(secret, { emergency: i === 2 });
  }
  const kid = (await plane.getKeyset()).keys[0]?.kid as string;
  expect(kid).toBeTruthy();
});

afterAll(async () => {
  await plane?.stop();
  admin?.disconnect();
  await valkey?.stop();
});

it('verifies a clean history: every version names the one before, every action is logged and chained', async () => {
  const result = await audit();
  expect(result.output).toContain('keyset chain: ok (4 versions)');
  expect(result.output).toContain('audit log: ok (3 entries)');
  expect(result.code).toBe(0);

  const state = parseKeyset(JSON.parse((await admin.get(VALKEY_KEYS.state)) as string));
  const links = (await admin.hvals(VALKEY_KEYS.chain)).map((text) => JSON.parse(text));
  const third = links.find((link) => link.version === 3);
  expect(state.previous_hash).toBe(third.hash);
  expect(links.find((link) => link.version === 1).previous_hash).toBeUndefined();
  expect(await keysetHash(state)).toBe(links.find((link) => link.version === 4).hash);

  const entries = (await admin.lrange(VALKEY_KEYS.audit, 0, -1)).map((text) => JSON.parse(text));
  expect(entries.map((entry) => [entry.seq, entry.action, entry.version])).toEqual([
    [1, 'rotate', 2],
    [2, 'rotate', 3],
    [3, 'rotate_emergency', 4],
  ]);
  expect(entries[2]).toMatchObject({
    actor: expect.stringMatching(/^127\.0\.0\.1|::1|::ffff:127/),
    kid: state.keys[0]?.kid,
  });
  const log = await admin.lrange(VALKEY_KEYS.audit, 0, -1);
  for (const text of log) {
    for (const secret of [...secrets, plane.adminToken]) expect(text.includes(secret)).toBe(false);
  }
});

it('names an audit entry edited in Valkey', async () => {
  const second = JSON.parse((await admin.lindex(VALKEY_KEYS.audit, 1)) as string);
  await admin.lset(VALKEY_KEYS.audit, 1, JSON.stringify({ ...second, actor: '203.0.113.9' }));
  const result = await audit();
  expect(result.code).toBe(1);
  expect(result.output).toContain('audit log: BROKEN at audit entry 3: does not chain to entry 2');
  expect(result.output).toContain('keyset chain: ok');
});

it('names the last audit entry edited, which no entry after it covers', async () => {
  const last = JSON.parse((await admin.lindex(VALKEY_KEYS.audit, -1)) as string);
  await admin.lset(VALKEY_KEYS.audit, -1, JSON.stringify({ ...last, action: 'rotate' }));
  const result = await audit();
  expect(result.code).toBe(1);
  expect(result.output).toContain('audit log: BROKEN at audit entry 3');
});

it('names a deleted audit entry', async () => {
  const second = (await admin.lindex(VALKEY_KEYS.audit, 1)) as string;
  await admin.lrem(VALKEY_KEYS.audit, 1, second);
  const result = await audit();
  expect(result.code).toBe(1);
  expect(result.output).toContain('audit log: BROKEN at audit entry 2: has seq 3');
  // Dropping the newest entry is found too: the head kept beside the log names it.
  await admin.rpop(VALKEY_KEYS.audit);
  expect((await audit()).output).toContain(
    'audit log: BROKEN at audit entry 1: is not the entry the head names: it was changed, or entries after it were removed',
  );
});

it('names a keyset version whose link was edited', async () => {
  const link = JSON.parse((await admin.hget(VALKEY_KEYS.chain, '2')) as string);
  await admin.hset(VALKEY_KEYS.chain, '2', JSON.stringify({ ...link, hash: link.previous_hash }));
  const result = await audit();
  expect(result.code).toBe(1);
  expect(result.output).toContain('keyset chain: BROKEN at keyset version 3');
});

it('keeps the log in memory with env storage: rotate and revoke, chained like the Valkey one', async () => {
  const storage = new EnvStorage(newSecret());
  const manager = new KeysetManager({ storage, gracePeriodMs: 60_000, cacheTtlMs: 300_000 });
  await manager.start();
  try {
    const before = (await manager.keyset()).keyset.keys[0]?.kid as string;
    await manager.rotate({ secret: newSecret(), actor: '192.0.2.7' });
    await manager.revoke(before, '192.0.2.7');
    expect(storage.auditLog.map((text) => JSON.parse(text).action)).toEqual(['rotate', 'revoke']);
    expect(verifyAuditLog(storage.auditLog, entryHash(storage.auditLog.at(-1) as string))).toBeNull();
    const current = (await manager.keyset()).keyset;
    expect(
      verifyKeysetChain(storage.chain, { version: current.version, hash: await keysetHash(current) }),
    ).toBeNull();
  } finally {
    await manager.stop();
  }
});
