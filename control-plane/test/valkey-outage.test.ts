/**
 * Valkey going away under a KeysetManager (a real valkey-server stopped and restarted from its append-only
 * file): writes refused as unavailable, reads served from the cache, nothing partial left behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { eventually } from '../../test/support/bounded-waits.ts';
import { KEYSET_SIGNING_SEED } from '../../test/support/keysets.ts';
import { expectConsistent, readLayout } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { StorageUnavailableError } from '../src/errors.ts';
import { KeysetManager } from '../src/keyset/keyset-manager.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
const DAY = 86_400_000;

let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole file. */
const newSecret = (label = 's') => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;

/** Waits for a restarted Valkey to answer. */
const answering = (admin: Valkey) =>
  eventually(
    () => admin.ping().catch(() => 'down'),
    (answer) => answer === 'PONG',
    10_000,
    20,
  );

describe('Valkey going away', () => {
  let valkey: ValkeyServer;
  let admin: Valkey;
  let dir: string;

  beforeAll(async () => {
    // Persistence on, in a directory of ours (stop() then leaves it), so a restart keeps what was written.
    dir = await mkdtemp(join(tmpdir(), 'keyward-cp-valkey-'));
    valkey = await startValkey({ dir, args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    admin = new Valkey(valkey.url, { lazyConnect: true, retryStrategy: () => 50 });
    admin.on('error', () => {});
    await admin.connect();
  });

  afterAll(async () => {
    admin?.disconnect();
    await valkey?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('rotate answers StorageUnavailableError, reads serve the cache, and no partial state is left', async () => {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    const warnings: string[] = [];
    const manager = new KeysetManager({
      storage,
      keysetKey: KEYSET_KEY,
      signingKey: KEYSET_SIGNING_SEED,
      gracePeriodMs: DAY,
      // Short, so reads really go to storage while it is away.
      cacheTtlMs: 20,
      onWarning: (message) => warnings.push(message),
    });
    try {
      await manager.start();
      for (let i = 0; i < 5; i++) await manager.rotate({ secret: newSecret('up') });
      const held = await manager.keyset();
      const before = await readLayout(admin);
      expect(before.version).toBe(String(held.keyset.version));

      await valkey.stop();
      const attempted = newSecret('while-down');
      await expect(manager.rotate({ secret: attempted })).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(manager.rotate()).rejects.toBeInstanceOf(StorageUnavailableError);
      const previousKid = held.keyset.keys[1]?.kid as string;
      await expect(manager.revoke(previousKid)).rejects.toBeInstanceOf(StorageUnavailableError);
      // Reads keep working from the cache, with a warning.
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(await manager.keyset()).toEqual(held);
      expect(warnings).toContain('storage unreachable, serving the cached keyset');

      await valkey.restart();
      await answering(admin);
      expect(await readLayout(admin)).toEqual(before);
      const history = await admin.hgetall(VALKEY_KEYS.history);
      expect(Object.values(history).join()).not.toContain(encodeBase64url(utf8(attempted)));

      // The manager reconnects by itself and carries on from the stored version.
      const value = await eventually(
        () => manager.rotate({ secret: newSecret('back') }).catch((error: unknown) => error),
        (result) => !(result instanceof StorageUnavailableError),
        10_000,
        50,
      );
      expect((value as { keyset: Keyset }).keyset.version).toBe(held.keyset.version + 1);
      await expectConsistent(admin, KEYSET_KEY);
    } finally {
      await manager.stop();
      await storage.close();
    }
  });

  it('stopping Valkey in the middle of a stream of rotations leaves a consistent state', async () => {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    const manager = new KeysetManager({
      storage,
      keysetKey: KEYSET_KEY,
      signingKey: KEYSET_SIGNING_SEED,
      gracePeriodMs: DAY,
      cacheTtlMs: 300_000,
    });
    try {
      await manager.start();
      let acknowledged = (await manager.keyset()).keyset.version;
      const failures: unknown[] = [];
      let successes = 0;
      const loop = (async () => {
        // Bounded: stops after three refusals in a row (Valkey is down) or 2 000 attempts.
        for (let i = 0; i < 2_000; i++) {
          try {
            acknowledged = (await manager.rotate({ secret: newSecret('stream') })).keyset.version;
            successes++;
            failures.length = 0;
          } catch (error) {
            failures.push(error);
            if (failures.length >= 3) return;
          }
        }
      })();
      await eventually(
        async () => successes,
        (n) => n >= 20,
        10_000,
      );
      await valkey.stop();
      await loop;
      expect(failures.length).toBe(3);
      for (const error of failures) expect(error).toBeInstanceOf(StorageUnavailableError);

      await valkey.restart();
      await answering(admin);
      const { keyset: state } = await expectConsistent(admin, KEYSET_KEY);
      // A rotation whose reply was lost with the connection may have landed; nothing else did.
      expect(state.version).toBeGreaterThanOrEqual(acknowledged);
      expect(state.version).toBeLessThanOrEqual(acknowledged + 1);
    } finally {
      await manager.stop();
      await storage.close();
    }
  });
});
