/**
 * The storage conformance suite (dex `storage/conformance`): what every KeysetStorage must do, run against each
 * one by its own test file with a target that opens it. A new storage (Sentinel, Cluster) adds one such file.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url, utf8 } from '../../../shared/base64url.ts';
import { activeKey, type HmacKeyEntry, type Keyset, rotateKeyset } from '../../../shared/keyset.ts';
import { computeKid } from '../../../shared/kid.ts';
import { KEYSET_SIGNING_SEED } from '../../../test/support/keysets.ts';
import { KeysetManager, type KeysetManagerOptions } from '../../src/keyset/keyset-manager.ts';
import type { KeysetStorage, StoredKeyset } from '../../src/storage/keyset-storage.ts';
import type { HistoryEntry } from '../../src/storage/valkey-storage.ts';

export interface StorageTarget {
  /** Empties the store; `legacy` is the secret that existed before Keyward (Valkey: jwt_secrets:active). */
  reset(legacy?: string): Promise<void>;
  /** One replica's client of the store (Valkey: its own connection; env: the process's memory). */
  open(): Promise<KeysetStorage>;
  /** Everything the store holds, for before/after comparisons. */
  snapshot(): Promise<unknown>;
  /** The KEYSET_KEY the managers seal with, when the store is checked against its envelope. */
  keysetKey?: Uint8Array;
  /** Checks the store's own layout agrees with itself; returns the keyset it holds. */
  consistentKeyset?(): Promise<Keyset>;
  /** Every secret the store ever held, by secret version, when it keeps such a history. */
  history?(): Promise<HistoryEntry[]>;
}

/** The history read through a storage of its own, closed after (for a target's `history`). */
export async function historyThrough(
  open: () => Promise<KeysetStorage & { history(): Promise<HistoryEntry[]> }>,
): Promise<HistoryEntry[]> {
  const storage = await open();
  try {
    return await storage.history();
  } finally {
    await storage.close();
  }
}

const DAY = 86_400_000;
let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole run. */
const newSecret = (label: string) => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;

/** A keyset of one secret at `version`, as a rotation would write it. */
async function keysetOf(secret: string, version: number, previous: Keyset | null = null): Promise<Keyset> {
  const next = rotateKeyset(
    previous,
    { secret, kid: await computeKid(secret) },
    { now: new Date(), gracePeriodMs: DAY },
  );
  return { ...next, version };
}

/** Runs the conformance suite against the storage `target` opens. */
export function runStorageConformance(name: string, target: () => StorageTarget): void {
  describe(`${name} storage conformance`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    let store: StorageTarget;

    async function open(): Promise<KeysetStorage> {
      const storage = await store.open();
      cleanups.push(() => storage.close());
      return storage;
    }

    async function replica(options: Partial<KeysetManagerOptions> = {}) {
      const storage = await open();
      const warnings: string[] = [];
      const manager = new KeysetManager({
        storage,
        keysetKey: store.keysetKey,
        // Envelopes only where the store is checked against one.
        signingKey: store.keysetKey === undefined ? undefined : KEYSET_SIGNING_SEED,
        gracePeriodMs: DAY,
        cacheTtlMs: 300_000,
        onWarning: (message) => warnings.push(message),
        ...options,
      });
      cleanups.push(() => manager.stop());
      return { storage, manager, warnings };
    }

    beforeEach(async () => {
      store = target();
      await store.reset();
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('an empty store loads no keyset and no legacy secret', async () => {
      const storage = await open();
      expect(await storage.load()).toBeNull();
      expect(await storage.loadLegacySecrets()).toBeNull();
    });

    it('a legacy secret loads as the active one, with no previous ones', async () => {
      const legacy = newSecret('legacy');
      await store.reset(legacy);
      const storage = await open();
      expect(await storage.loadLegacySecrets()).toEqual({ active: legacy, previous: [] });
    });

    it('compare-and-swap writes only over the expected version, and what it wrote loads back', async () => {
      const storage = await open();
      const first: StoredKeyset = { keyset: await keysetOf(newSecret('first'), 1), envelope: 'envelope-1' };
      expect(await storage.compareAndSwap(0, first)).toBe(true);
      expect(await storage.load()).toEqual(first);

      const stale: StoredKeyset = { keyset: await keysetOf(newSecret('stale'), 1), envelope: null };
      expect(await storage.compareAndSwap(0, stale)).toBe(false);
      expect(await storage.compareAndSwap(2, stale)).toBe(false);
      expect(await storage.load()).toEqual(first);

      const second: StoredKeyset = {
        keyset: await keysetOf(newSecret('second'), 2, first.keyset),
        // Every write carries an envelope here: ValkeyStorage keeps the previous envelope when a write has none.
        envelope: 'envelope-2',
      };
      expect(await storage.compareAndSwap(1, second)).toBe(true);
      expect(await storage.load()).toEqual(second);
    });

    it('of concurrent compare-and-swaps over one version, exactly one wins', async () => {
      const [a, b] = [await open(), await open()];
      const candidates = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => ({
          keyset: await keysetOf(newSecret(`race-${i}`), 1),
          envelope: null,
        })),
      );
      const won = await Promise.all(
        candidates.map((candidate, i) => (i % 2 === 0 ? a : b).compareAndSwap(0, candidate)),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await a.load()).toEqual(candidates[won.indexOf(true)]);
    });

    it('a lock nobody holds is granted, and watching stops when told', async () => {
      const storage = await open();
      expect(await storage.tryLock(`conformance-${++serial}`, 60_000)).toBe(true);
      const stop = await storage.watch(() => {});
      await stop();
    });

    it('names what to restore when a keyset cannot be written over "none stored"', async () => {
      expect((await open()).describeMissingKeyset()).toMatch(/\S/);
    });

    it('a manager bootstraps version 1 from the legacy secret', async () => {
      const legacy = newSecret('legacy');
      await store.reset(legacy);
      const { manager } = await replica();
      const stored = await manager.start();
      expect(stored.keyset.version).toBe(1);
      expect(stored.keyset.keys).toHaveLength(1);
      const key = activeKey(stored.keyset);
      expect(key.kid).toBe(await computeKid(legacy));
      expect(key.version).toBe(1);
      expect((key as HmacKeyEntry).k).toBe(encodeBase64url(utf8(legacy)));
      if (store.history) {
        expect(await store.history()).toEqual([
          { version: 1, kid: key.kid, k: (key as HmacKeyEntry).k, created_at: key.created_at },
        ]);
      }
    });

    it('a manager over an empty store generates the first secret, and says so', async () => {
      const { manager, warnings } = await replica();
      const stored = await manager.start();
      expect(stored.keyset.version).toBe(1);
      expect(
        (decodeBase64url((activeKey(stored.keyset) as HmacKeyEntry).k) as Uint8Array).length,
      ).toBeGreaterThanOrEqual(32);
      expect(warnings.join('\n')).toContain('generated the first secret');
    });

    it('two replicas starting at once over a legacy secret bootstrap it once', async () => {
      const legacy = newSecret('legacy');
      await store.reset(legacy);
      const a = await replica();
      const b = await replica();
      const [sa, sb] = await Promise.all([a.manager.start(), b.manager.start()]);
      expect(sa.keyset).toEqual(sb.keyset);
      expect(sa.keyset.version).toBe(1);
      expect(activeKey(sa.keyset).kid).toBe(await computeKid(legacy));
      if (store.history) expect((await store.history()).map((entry) => entry.version)).toEqual([1]);
    });

    it('a new manager on the same store (a restart) keeps everything', async () => {
      const first = await replica();
      await first.manager.start();
      for (let i = 0; i < 3; i++) await first.manager.rotate({ secret: newSecret('before-restart') });
      const before = await store.snapshot();
      const held = await first.manager.keyset();
      await first.manager.stop();

      const second = await replica();
      const stored = await second.manager.start();
      expect(stored).toEqual(held);
      expect(await store.snapshot()).toEqual(before);
      expect(stored.keyset.version).toBe(4);
      const next = await second.manager.rotate({ secret: newSecret('after-restart') });
      expect(next.keyset.version).toBe(5);
      expect(activeKey(next.keyset).version).toBe(5);
    });

    it('two replicas rotating concurrently 200 times each lose no rotation and reuse no version', async () => {
      const a = await replica({ gracePeriodMs: 200 });
      const b = await replica({ gracePeriodMs: 200 });
      await a.manager.start();
      await b.manager.start();
      const told: Record<'a' | 'b', string[]> = { a: [], b: [] };
      const run = async (name: 'a' | 'b', manager: KeysetManager) => {
        for (let i = 0; i < 200; i++) {
          const secret = newSecret(name);
          await manager.rotate({ secret });
          told[name].push(secret);
        }
      };
      await Promise.all([run('a', a.manager), run('b', b.manager)]);
      expect(told.a).toHaveLength(200);
      expect(told.b).toHaveLength(200);

      if (store.history) {
        const history = await store.history();
        expect(history).toHaveLength(401);
        expect(history.map((entry) => entry.version)).toEqual(Array.from({ length: 401 }, (_, i) => i + 1));
        expect(new Set(history.map((entry) => entry.kid)).size).toBe(401);
        const inHistory = new Set(history.map((entry) => entry.k));
        for (const secret of [...told.a, ...told.b])
          expect(inHistory.has(encodeBase64url(utf8(secret)))).toBe(true);
      }

      const state = store.consistentKeyset
        ? await store.consistentKeyset()
        : ((await a.storage.load()) as StoredKeyset).keyset;
      expect(activeKey(state).version).toBe(401);
      expect(state.version).toBeGreaterThanOrEqual(401);
      // Both replicas end up holding the stored keyset (expiry pruning may still raise its version meanwhile).
      for (const { manager, storage } of [a, b]) {
        await expect
          .poll(
            async () => (await manager.keyset()).keyset.version === (await storage.load())?.keyset.version,
            { timeout: 2_000, interval: 5 },
          )
          .toBe(true);
      }
    });
  });
}
