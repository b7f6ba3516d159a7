/**
 * The storage conformance suite (dex `storage/conformance`): what every KeysetStorage must do, run against each
 * one by its own test file with a target that opens it. A new storage (Sentinel, Cluster) adds one such file.
 */
import { randomBytes } from 'node:crypto';
import type { Valkey } from 'iovalkey';
import { compactDecrypt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url, fromUtf8, utf8 } from '../../../shared/base64url.ts';
import {
  activeKey,
  type HmacKeyEntry,
  type Keyset,
  legacyActiveSecret,
  promoteKey,
  publicKeyset,
  revokeKey,
  rotateKeyset,
  signingJwk,
  stageKey,
} from '../../../shared/keyset.ts';
import { sealKeyset } from '../../../shared/keyset-envelope.ts';
import { computeKid } from '../../../shared/kid.ts';
import { EDDSA_PAIR, ES256_PAIR } from '../../../test/support/key-pairs.ts';
import { KEYSET_SIGNING_SEED, sealingKeys } from '../../../test/support/keysets.ts';
import { expectSame } from '../../../test/support/valkey-layout.ts';
import { KeysetManager, type KeysetManagerOptions } from '../../src/keyset/keyset-manager.ts';
import type { KeysetStorage, StoredKeyset } from '../../src/storage/keyset-storage.ts';
import { type HistoryEntry, VALKEY_KEYS } from '../../src/storage/valkey-storage.ts';

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
  /** What a reader GETs under the SPEC names (jwt_secrets:active, :keyset, :signing_key), when published. */
  published?(): Promise<Published>;
}

/** The keys other services read by name; null when absent. */
export interface Published {
  active: string | null;
  envelope: string | null;
  signingKey: string | null;
}

/** The SPEC names read straight from a standalone (or Sentinel primary's) Valkey. */
export async function publishedIn(admin: Valkey): Promise<Published> {
  const [active, envelope, signingKey] = await admin.mget(
    VALKEY_KEYS.active,
    VALKEY_KEYS.keyset,
    VALKEY_KEYS.signingKey,
  );
  return { active, envelope, signingKey };
}

/** The JSON text an envelope carries, read raw: decrypted (JWE) with `keysetKey`, the JWS payload unverified. */
async function manifestText(envelope: string, keysetKey: Uint8Array): Promise<string> {
  const manifest =
    envelope.split('.').length === 5
      ? (fromUtf8((await compactDecrypt(envelope, keysetKey)).plaintext) as string)
      : envelope;
  return fromUtf8(decodeBase64url(manifest.split('.')[1] as string) as Uint8Array) as string;
}

const PRIVATE_KEYS = [ES256_PAIR.d, EDDSA_PAIR.d];

/** The history entry of a key: the secret of HS256, the public JWK of a key pair, never `d`. */
function expectedHistory(key: Keyset['keys'][number]): HistoryEntry {
  const { version, kid, created_at } = key;
  if (key.alg === 'HS256') return { version, kid, k: key.k, created_at };
  const { alg, kty, crv, x } = key;
  return { version, kid, alg, kty, crv, x, ...(key.alg === 'ES256' ? { y: key.y } : {}), created_at };
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

    /** Seals `next` as a control plane would (when the store is checked against envelopes) and swaps it in. */
    async function write(
      storage: KeysetStorage,
      current: Keyset | null,
      next: Keyset,
    ): Promise<StoredKeyset> {
      const keysetKey = store.keysetKey;
      const envelope = keysetKey === undefined ? null : await sealKeyset(next, await sealingKeys(keysetKey));
      const stored = { keyset: next, envelope };
      expect(await storage.compareAndSwap(current?.version ?? 0, stored)).toBe(true);
      return stored;
    }

    /**
     * What storage holds beside `keyset`: its facts (jwt_secrets:active follows legacyActiveSecret, the signing
     * key is the active key), and where published the raw keys: signing_key = signingJwk, active deleted when
     * no HS256 key is left, an envelope without any private key (a bare JWS when no secret is in it).
     */
    async function expectPublished(storage: KeysetStorage, keyset: Keyset): Promise<void> {
      const facts = await storage.inspect?.();
      expect(facts).toBeDefined();
      expectSame(facts?.activeSecret, legacyActiveSecret(keyset), 'inspect(): the legacy active secret');
      expect(facts?.signingKid).toBe(activeKey(keyset).kid);
      if (store.consistentKeyset) expectSame(await store.consistentKeyset(), keyset, 'the layout holds it');
      if (store.published === undefined || store.keysetKey === undefined) return;
      const published = await store.published();
      expectSame(published.active, legacyActiveSecret(keyset), 'jwt_secrets:active follows the keyset');
      expectSame(
        JSON.parse(published.signingKey as string),
        signingJwk(keyset),
        'jwt_secrets:signing_key is the active key as a private JWK',
      );
      const envelope = published.envelope as string;
      expect(envelope.split('.')).toHaveLength(keyset.keys.some((key) => key.alg === 'HS256') ? 5 : 3);
      const text = await manifestText(envelope, store.keysetKey);
      for (const key of (JSON.parse(text) as Keyset).keys) expect(key).not.toHaveProperty('d');
      for (const d of PRIVATE_KEYS) expect(text.includes(d), 'a private key in the envelope').toBe(false);
      expectSame(JSON.parse(text), publicKeyset(keyset), 'the envelope holds the public keyset');
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

    it('the audit log tail: the last entries of admin actions, oldest first, with no secret', async () => {
      const { manager } = await replica();
      await manager.start();
      const storage = await open();
      const secrets = [newSecret('audited-1'), newSecret('audited-2'), newSecret('audited-3')];
      for (const secret of secrets) await manager.rotate({ secret, actor: 'conformance' });
      const tail = (await storage.auditTail?.(2)) ?? [];
      const entries = tail.map(
        (text) => JSON.parse(text) as { action: string; actor: string; version: number },
      );
      expect(entries.map(({ action, actor }) => ({ action, actor }))).toEqual([
        { action: 'rotate', actor: 'conformance' },
        { action: 'rotate', actor: 'conformance' },
      ]);
      expect(entries.map((entry) => entry.version)).toEqual([3, 4]);
      expect(await storage.auditTail?.(0)).toEqual([]);
      expect(((await storage.auditTail?.(100)) ?? []).length).toBe(3);
      for (const secret of secrets) expect(tail.join('\n')).not.toContain(encodeBase64url(utf8(secret)));
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

    it('an active EdDSA key, a previous HS256 key and a standby ES256 key round-trip: state keeps d, the envelope none', async () => {
      const now = new Date();
      const legacy = newSecret('mixed');
      const withPair = rotateKeyset(await keysetOf(legacy, 1), EDDSA_PAIR, { now, gracePeriodMs: DAY });
      const mixed = stageKey(withPair, ES256_PAIR, now);
      expect(mixed.keys.map((key) => [key.alg, key.status])).toEqual([
        ['EdDSA', 'active'],
        ['ES256', 'standby'],
        ['HS256', 'previous'],
      ]);
      const storage = await open();
      const stored = await write(storage, null, mixed);
      expect(await storage.load()).toEqual(stored);
      // Another replica reads the private keys back from storage, not from this one's memory.
      const loaded = (await (await open()).load())?.keyset as Keyset;
      expect(loaded.keys.map((key) => (key.alg === 'HS256' ? undefined : key.d))).toEqual([
        EDDSA_PAIR.d,
        ES256_PAIR.d,
        undefined,
      ]);
      await expectPublished(storage, mixed);
      if (store.history) {
        const history = await store.history();
        expect(history).toEqual([...mixed.keys].sort((a, b) => a.version - b.version).map(expectedHistory));
        for (const entry of history) expect(entry).not.toHaveProperty('d');
      }
    });

    it('signing_key and jwt_secrets:active follow stage, promote, revoke and rotate, through storage and a manager', async () => {
      const now = new Date();
      const options = { now, gracePeriodMs: DAY };
      const storage = await open();
      const legacy = newSecret('hs256');
      let current = (await write(storage, null, await keysetOf(legacy, 1))).keyset;
      await expectPublished(storage, current);

      // A standby key pair verifies but does not sign: signing_key and jwt_secrets:active stay on HS256.
      current = (await write(storage, current, stageKey(current, EDDSA_PAIR, now))).keyset;
      expect(JSON.parse(JSON.stringify(signingJwk(current)))).toMatchObject({ kty: 'oct', alg: 'HS256' });
      await expectPublished(storage, current);

      // Promoted: the key pair signs; legacy issuers keep the HS256 secret, still verifying in its grace.
      current = (await write(storage, current, promoteKey(current, EDDSA_PAIR.kid, options))).keyset;
      expect(legacyActiveSecret(current)).toBe(legacy);
      await expectPublished(storage, current);

      // No HS256 key left: jwt_secrets:active is deleted, and the envelope is a bare signed JWS.
      const hs256Kid = await computeKid(legacy);
      current = (await write(storage, current, revokeKey(current, hs256Kid, now))).keyset;
      expect(legacyActiveSecret(current)).toBeNull();
      await expectPublished(storage, current);

      current = (await write(storage, current, rotateKeyset(current, ES256_PAIR, options))).keyset;
      await expectPublished(storage, current);

      // A restart over a keyset without HS256 keys keeps it (no bootstrap from a missing jwt_secrets:active),
      // and the manager's own writes carry the private keys on: an HS256 rotation after key pairs.
      const { manager, storage: its } = await replica();
      const started = await manager.start();
      expect(started.keyset.keys.map((key) => key.kid)).toEqual(current.keys.map((key) => key.kid));
      const secret = newSecret('after-pairs');
      const rotated = await manager.rotate({ secret });
      expect(legacyActiveSecret(rotated.keyset)).toBe(secret);
      expect(rotated.keyset.keys.map((key) => (key.alg === 'HS256' ? undefined : key.d))).toEqual([
        undefined,
        ES256_PAIR.d,
        EDDSA_PAIR.d,
      ]);
      expect(await its.load()).toEqual(rotated);
      await expectPublished(its, rotated.keyset);
    });

    it('a keyset whose active key pair has no private key is refused, and nothing changes', async () => {
      const storage = await open();
      const first = (await write(storage, null, await keysetOf(newSecret('kept'), 1))).keyset;
      const before = await store.snapshot();
      const unusable = publicKeyset(rotateKeyset(first, EDDSA_PAIR, { now: new Date(), gracePeriodMs: DAY }));
      const refused = await storage.compareAndSwap(1, { keyset: unusable, envelope: null }).then(
        () => undefined,
        (error: unknown) => error as Error & { code?: string },
      );
      expect(refused?.code).toBe('keyset_invalid');
      expect(refused?.message).toContain(EDDSA_PAIR.kid);
      expectSame(await store.snapshot(), before, 'a refused write changes nothing');
      await expectPublished(storage, first);
    });

    it('keeps the revocation list: deltas appended by compare-and-swap, read from a serial, folded into a snapshot', async () => {
      const [a, b] = [await open(), await open()];
      const none = { serial: 0, snapshot: null, deltas: [] };
      expect(await a.loadRevocations(0)).toEqual(none);
      expect(await a.appendRevocations(0, { serial: 10, document: 'delta-10' })).toBe(true);
      // Lost the compare-and-swap: nothing written.
      expect(await b.appendRevocations(0, { serial: 11, document: 'delta-11' })).toBe(false);
      expect(await b.appendRevocations(10, { serial: 20, document: 'delta-20' })).toBe(true);
      expect(await a.appendRevocations(20, { serial: 30, document: 'delta-30' })).toBe(true);
      expect(await b.loadRevocations(30)).toEqual({ serial: 30, snapshot: null, deltas: [] });
      expect(await b.loadRevocations(10)).toEqual({
        serial: 30,
        snapshot: null,
        deltas: ['delta-20', 'delta-30'],
      });
      expect(await b.loadRevocations(0)).toEqual({
        serial: 30,
        snapshot: null,
        deltas: ['delta-10', 'delta-20', 'delta-30'],
      });

      expect(await a.compactRevocations({ serial: 20, document: 'snapshot-20' })).toBe(true);
      // A fold no newer than the one written changes nothing.
      expect(await b.compactRevocations({ serial: 10, document: 'snapshot-10' })).toBe(false);
      const folded = { serial: 30, snapshot: 'snapshot-20', deltas: ['delta-30'] };
      expect(await b.loadRevocations(0)).toEqual(folded);
      // From a serial the snapshot took in: what is left above it (the reader sees the gap in its `from`).
      expect(await b.loadRevocations(10)).toEqual({ serial: 30, snapshot: null, deltas: ['delta-30'] });
      // From above the stored serial (storage restored from a backup): the whole list.
      expect(await b.loadRevocations(40)).toEqual(folded);
      // A fold at a serial whose delta storage does not hold (a writer's list from before storage went back to a
      // backup, or a fold another replica already took in) changes nothing.
      expect(await a.compactRevocations({ serial: 40, document: 'snapshot-40' })).toBe(false);
      expect(await a.compactRevocations({ serial: 25, document: 'snapshot-25' })).toBe(false);
      expect(await b.loadRevocations(0)).toEqual(folded);
      expect(await b.compactRevocations({ serial: 30, document: 'snapshot-30' })).toBe(true);
      expect(await a.loadRevocations(0)).toEqual({ serial: 30, snapshot: 'snapshot-30', deltas: [] });
      expect(await a.loadRevocations(20)).toEqual({ serial: 30, snapshot: null, deltas: [] });
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
