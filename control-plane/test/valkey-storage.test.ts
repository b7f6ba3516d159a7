/**
 * ValkeyStorage and KeysetManager against a real valkey-server: bootstrap, the atomic layout of a rotation,
 * concurrent replicas, restarts, Valkey going away mid-run, and pub/sub convergence.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { type HmacPrimitive, webCryptoHmac } from '../../shared/hmac.ts';
import { activeKey, type Keyset } from '../../shared/keyset.ts';
import { openKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { expectConsistent, readLayout, secretOf } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { StorageUnavailableError } from '../src/errors.ts';
import { KeysetManager, type KeysetManagerOptions } from '../src/keyset/keyset-manager.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
const DAY = 86_400_000;

let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole file. */
const newSecret = (label = 's') => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;

async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 5,
): Promise<{ value: T; elapsedMs: number }> {
  const started = performance.now();
  for (;;) {
    const value = await read();
    const elapsedMs = performance.now() - started;
    if (accept(value)) return { value, elapsedMs };
    if (elapsedMs > timeoutMs) {
      const shown = value instanceof Error ? value.name : JSON.stringify(value);
      throw new Error(`condition not met within ${timeoutMs} ms: ${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

describe('ValkeyStorage + KeysetManager', () => {
  let valkey: ValkeyServer;
  let admin: Valkey;
  const cleanups: Array<() => Promise<void>> = [];

  async function replica(options: Partial<KeysetManagerOptions> = {}, url = valkey.url) {
    const storage = new ValkeyStorage({ url });
    await storage.connect();
    const warnings: string[] = [];
    const manager = new KeysetManager({
      storage,
      keysetKey: KEYSET_KEY,
      gracePeriodMs: DAY,
      cacheTtlMs: 300_000,
      onWarning: (message) => warnings.push(message),
      ...options,
    });
    cleanups.push(async () => {
      await manager.stop();
      await storage.close();
    });
    return { storage, manager, warnings };
  }

  beforeAll(async () => {
    valkey = await startValkey();
    admin = new Valkey(valkey.url, { lazyConnect: true });
    await admin.connect();
  });

  afterAll(async () => {
    admin?.disconnect();
    await valkey?.stop();
  });

  beforeEach(async () => {
    await admin.flushall();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('a corrupted jwt_secrets:state stops the start without quoting it (it holds key material)', async () => {
    const fragment = 'kmaterial0123456789';
    // V8 quotes the text of a value that is not JSON at all (`Unexpected token ..., "..." is not valid JSON`).
    for (const broken of [`{"version":1,"keys":[{"k":"${fragment}`, `${fragment}${fragment}`]) {
      await admin.set(VALKEY_KEYS.state, broken);
      const { manager } = await replica();
      const failure = await manager.start().then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/jwt_secrets:state in Valkey is not valid JSON/);
      expect(failure?.message).not.toContain(fragment.slice(0, 6));
    }
  });

  it('bootstraps version 1 from a pre-set jwt_secrets:active', async () => {
    const legacy = newSecret('legacy');
    await admin.set(VALKEY_KEYS.active, legacy);
    const { manager, storage } = await replica();
    const stored = await manager.start();
    expect(stored.keyset.version).toBe(1);
    expect(stored.keyset.keys).toHaveLength(1);
    const key = activeKey(stored.keyset);
    expect(key.kid).toBe(await computeKid(legacy));
    expect(key.version).toBe(1);
    expect(key.k).toBe(encodeBase64url(utf8(legacy)));
    // Existing services that GET the key keep getting the same secret.
    expect(await admin.get(VALKEY_KEYS.active)).toBe(legacy);
    const { keyset: state } = await expectConsistent(admin, KEYSET_KEY);
    expect(state).toEqual(stored.keyset);
    expect(await storage.history()).toEqual([
      { version: 1, kid: key.kid, k: key.k, created_at: key.created_at },
    ]);
  });

  it('two replicas starting at once over a pre-set secret bootstrap it once', async () => {
    const legacy = newSecret('legacy');
    await admin.set(VALKEY_KEYS.active, legacy);
    const a = await replica();
    const b = await replica();
    const [sa, sb] = await Promise.all([a.manager.start(), b.manager.start()]);
    expect(sa.keyset).toEqual(sb.keyset);
    expect(sa.keyset.version).toBe(1);
    expect(activeKey(sa.keyset).kid).toBe(await computeKid(legacy));
    expect(Object.keys(await admin.hgetall(VALKEY_KEYS.history))).toEqual(['1']);
  });

  it('generates the first secret when Valkey is empty, and stores it as jwt_secrets:active', async () => {
    const { manager, warnings } = await replica();
    const stored = await manager.start();
    expect(stored.keyset.version).toBe(1);
    const active = await admin.get(VALKEY_KEYS.active);
    expect(utf8(active as string).length).toBeGreaterThanOrEqual(32);
    expect(activeKey(stored.keyset).kid).toBe(await computeKid(active as string));
    expect(warnings.join('\n')).toContain('generated the first secret');
  });

  it('a rotation changes active, keyset envelope, state, version and history together', async () => {
    const first = newSecret('first');
    await admin.set(VALKEY_KEYS.active, first);
    const { manager, storage } = await replica();
    await manager.start();
    const second = newSecret('second');
    const stored = await manager.rotate({ secret: second });
    expect(stored.keyset.version).toBe(2);

    const { layout: snap, keyset: state } = await expectConsistent(admin, KEYSET_KEY);
    expect(snap.active).toBe(second);
    expect(state).toEqual(stored.keyset);
    expect(stored.envelope).toBe(snap.envelope);
    expect(state.keys.map((k) => [k.kid, k.status, k.version])).toEqual([
      [await computeKid(second), 'active', 2],
      [await computeKid(first), 'previous', 1],
    ]);
    const history = await storage.history();
    expect(history.map((entry) => [entry.version, entry.k])).toEqual([
      [1, encodeBase64url(utf8(first))],
      [2, encodeBase64url(utf8(second))],
    ]);
  });

  it('readers never see a jwt_secrets:active that disagrees with the envelope during rotations', async () => {
    const { manager } = await replica();
    await manager.start();
    const reads: Array<[string | null, string | null]> = [];
    let writing = true;
    const reader = (async () => {
      while (writing)
        reads.push((await admin.mget(VALKEY_KEYS.active, VALKEY_KEYS.keyset)) as [string, string]);
    })();
    for (let i = 0; i < 40; i++) await manager.rotate({ secret: newSecret('atomic') });
    writing = false;
    await reader;
    expect(reads.length).toBeGreaterThan(40);
    const distinct = new Map(
      reads.map(([active, envelope]) => [`${active}|${envelope}`, [active, envelope]]),
    );
    for (const [active, envelope] of distinct.values()) {
      expect(secretOf(await openKeyset(envelope as string, KEYSET_KEY))).toBe(active);
    }
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

    const history = await a.storage.history();
    expect(history).toHaveLength(401);
    expect(history.map((entry) => entry.version)).toEqual(Array.from({ length: 401 }, (_, i) => i + 1));
    expect(new Set(history.map((entry) => entry.kid)).size).toBe(401);
    const inHistory = new Set(history.map((entry) => entry.k));
    for (const secret of [...told.a, ...told.b])
      expect(inHistory.has(encodeBase64url(utf8(secret)))).toBe(true);

    const { layout: snap, keyset: state } = await expectConsistent(admin, KEYSET_KEY);
    expect(snap.active).toBe(secretOf(state));
    expect(activeKey(state).version).toBe(401);
    expect(state.version).toBeGreaterThanOrEqual(401);
    // Both replicas end up holding the stored keyset (expiry pruning may still raise its version meanwhile).
    for (const { manager } of [a, b]) {
      await eventually(
        async () => [(await manager.keyset()).keyset.version, Number(await admin.get(VALKEY_KEYS.version))],
        ([held, stored]) => held === stored,
        2_000,
      );
    }
  });

  it('a new manager on the same Valkey (a restart) keeps everything', async () => {
    const first = await replica();
    await first.manager.start();
    for (let i = 0; i < 3; i++) await first.manager.rotate({ secret: newSecret('before-restart') });
    const before = await readLayout(admin);
    const held = await first.manager.keyset();
    for (const cleanup of cleanups.splice(0)) await cleanup();

    const second = await replica();
    const stored = await second.manager.start();
    expect(stored).toEqual(held);
    expect(await readLayout(admin)).toEqual(before);
    expect(stored.keyset.version).toBe(4);
    const next = await second.manager.rotate({ secret: newSecret('after-restart') });
    expect(next.keyset.version).toBe(5);
    expect(activeKey(next.keyset).version).toBe(5);
  });

  it('replica B sees replica A rotation within 1 s via pub/sub despite a 300 s cache TTL', async () => {
    const a = await replica({ cacheTtlMs: 300_000 });
    const b = await replica({ cacheTtlMs: 300_000 });
    await a.manager.start();
    await b.manager.start();
    const rotated = await a.manager.rotate({ secret: newSecret('converge') });
    const { elapsedMs } = await eventually(
      async () => (await b.manager.keyset()).keyset.version,
      (version) => version === rotated.keyset.version,
      1_000,
      2,
    );
    expect(elapsedMs).toBeLessThan(1_000);
    expect(await b.manager.keyset()).toEqual(rotated);
  });

  it('a replica slower to import keys than the rate of changes still converges (no missed notification)', async () => {
    // WebCrypto importKey yields to I/O; slowed down, a change notification lands while a reload that read the
    // previous version is still installing it. That reload must not mark the cache fresh.
    const slowHmac: HmacPrimitive = {
      name: 'slow-webcrypto',
      async importKey(raw, alg) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return webCryptoHmac.importKey(raw, alg);
      },
      verify: (key, input, signature) => webCryptoHmac.verify(key as CryptoKey, input, signature),
    };
    const a = await replica();
    const b = await replica({ hmac: slowHmac });
    await a.manager.start();
    await b.manager.start();
    for (let round = 0; round < 3; round++) {
      let last = await a.manager.keyset();
      for (let i = 0; i < 5; i++) last = await a.manager.rotate({ secret: newSecret('slow') });
      await eventually(
        async () => (await b.manager.keyset()).keyset.version,
        (version) => version === last.keyset.version,
        2_000,
        20,
      );
    }
  });

  it('replica B converges to the last of a burst of rotations on A', async () => {
    const a = await replica({ cacheTtlMs: 300_000 });
    const b = await replica({ cacheTtlMs: 300_000 });
    await a.manager.start();
    await b.manager.start();
    for (let round = 0; round < 5; round++) {
      // B keeps reading while A rotates, so change notifications arrive while B's reads are in flight.
      let reading = true;
      const reader = (async () => {
        while (reading) {
          await b.manager.keyset();
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      let last = await a.manager.keyset();
      for (let i = 0; i < 20; i++) last = await a.manager.rotate({ secret: newSecret('burst') });
      reading = false;
      await reader;
      await eventually(
        async () => (await b.manager.keyset()).keyset.version,
        (version) => version === last.keyset.version,
        1_000,
        2,
      );
    }
  });
});

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
      await eventually(
        () => admin.ping().catch(() => 'down'),
        (answer) => answer === 'PONG',
        10_000,
        20,
      );
      expect(await readLayout(admin)).toEqual(before);
      const history = await admin.hgetall(VALKEY_KEYS.history);
      expect(Object.values(history).join()).not.toContain(encodeBase64url(utf8(attempted)));

      // The manager reconnects by itself and carries on from the stored version.
      const { value } = await eventually(
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
      await eventually(
        () => admin.ping().catch(() => 'down'),
        (answer) => answer === 'PONG',
        10_000,
        20,
      );
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
