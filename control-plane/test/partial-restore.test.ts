/**
 * A partial restore, as an operator following the start-up message that names the missing keys makes it:
 * `jwt_secrets:state`, `jwt_secrets:keyset` and `jwt_secrets:active` put back from the backup taken at v2
 * (DUMP/RESTORE), while
 * `jwt_secrets:version` and the history stay at v3. Start-up reconciles when what is stored agrees with itself,
 * refuses naming the keys otherwise, and the history never keeps the leaked v3 secret under a version the new
 * one is given. Real valkey-server, the real control plane with gRPC over loopback.
 */
import type { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { parseKeysetKey } from '../../shared/keyset-envelope.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { newKeysetKey, newSecret } from '../../test/support/sign-token.ts';
import { connectAdmin, expectConsistent, readLayout } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = newKeysetKey();
let valkey: ValkeyServer;
let admin: Valkey;
const planes: Harness[] = [];

beforeAll(async () => {
  valkey = await startValkey();
  admin = await connectAdmin(valkey.url);
});

beforeEach(async () => {
  await admin.flushall();
});

afterEach(async () => {
  for (const plane of planes.splice(0)) await plane.stop().catch(() => {});
});

afterAll(async () => {
  admin?.disconnect();
  await valkey?.stop();
});

async function controlPlane(): Promise<Harness> {
  const plane = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY });
  planes.push(plane);
  return plane;
}

/** v1 -> v2 (backed up: `keys` dumped) -> v3 with a leaked secret; then the dumped keys are restored. */
async function partiallyRestored(keys: string[]): Promise<{ leakedKid: string }> {
  const first = await controlPlane();
  expect((await first.rotate(newSecret())).version).toBe(2);
  const backup = await Promise.all(keys.map(async (key) => [key, await admin.dumpBuffer(key)] as const));
  const leaked = await first.rotate(newSecret());
  expect(leaked.version).toBe(3);
  await first.stop();
  planes.splice(planes.indexOf(first), 1);
  for (const [key, dump] of backup) await admin.restore(key, 0, dump as Buffer, 'REPLACE');
  const layout = await readLayout(admin);
  expect([layout.version, JSON.parse(layout.state as string).version]).toEqual(['3', 2]);
  return { leakedKid: leaked.kid };
}

it('reconciles at start when state, keyset and active agree, and later writes succeed above every version', async () => {
  const { leakedKid } = await partiallyRestored([VALKEY_KEYS.state, VALKEY_KEYS.keyset, VALKEY_KEYS.active]);
  const second = await controlPlane();
  expect(second.logLines.some((line) => line.includes(`${VALKEY_KEYS.version} is 3`))).toBe(true);
  const after = await second.rotate(newSecret());
  expect(after.success).toBe(true);
  expect(after.version).toBe(5);
  const { keyset, layout } = await expectConsistent(admin, parseKeysetKey(KEYSET_KEY));
  // The leaked secret keeps its history entry; the new one is numbered above it, not written over or dropped.
  expect(JSON.parse(layout.history['3'] as string).kid).toBe(leakedKid);
  expect(keyset.keys[0]).toMatchObject({ kid: after.kid, version: 4 });
});

it('refuses to start, naming the keys, when jwt_secrets:active does not match the restored state', async () => {
  await partiallyRestored([VALKEY_KEYS.state, VALKEY_KEYS.keyset]);
  const refused = await controlPlane().then(
    () => undefined,
    (error: Error) => error,
  );
  expect(refused?.message).toContain(`${VALKEY_KEYS.version} is 3 but ${VALKEY_KEYS.state} holds version 2`);
  expect(refused?.message).toContain(
    `restore ${VALKEY_KEYS.state}, ${VALKEY_KEYS.keyset}, ${VALKEY_KEYS.active}`,
  );
  expect((await readLayout(admin)).version).toBe('3');
});

it('never keeps a history entry over a different secret with the same version', async () => {
  await controlPlane();
  const storage = new ValkeyStorage({ url: valkey.url });
  await storage.connect();
  try {
    const layout = await readLayout(admin);
    const keyset = JSON.parse(layout.state as string);
    const before = layout.history['1'];
    // Version 1 again, with another kid and key: what a writer that never saw the history would store.
    const other = newSecret();
    const forged = {
      ...keyset,
      version: 2,
      keys: [{ ...keyset.keys[0], kid: 'another-kid', k: Buffer.from(other).toString('base64url') }],
    };
    await expect(storage.compareAndSwap(1, { keyset: forged, envelope: null })).rejects.toThrow(
      `${VALKEY_KEYS.history} already holds secret version 1 for another secret`,
    );
    const unchanged = await readLayout(admin);
    expect(unchanged.version).toBe('1');
    expect(unchanged.history['1']).toBe(before);
  } finally {
    await storage.close();
  }
});
