/**
 * Replicas over one real valkey-server converging through pub/sub despite a 300 s cache TTL: a single change,
 * the writer skipping only its own notice, a replica slower than the rate of changes, and a burst read while it
 * lands.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type VerifyPrimitive, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { eventually } from '../../test/support/bounded-waits.ts';
import { useValkeyReplicas } from '../../test/support/keyset-replica.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));

let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole file. */
const newSecret = (label = 's') => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;

describe('replicas converging through pub/sub', () => {
  const valkey = useValkeyReplicas(KEYSET_KEY);
  const { replica } = valkey;

  it('replica B installs replica A rotation on its notice, with no call on B, despite a 300 s cache TTL', async () => {
    const a = await replica({ cacheTtlMs: 300_000 });
    const b = await replica({ cacheTtlMs: 300_000 });
    await a.manager.start();
    await b.manager.start();
    const events: string[] = [];
    a.manager.on('change', (stored) => events.push(`A wrote ${stored.keyset.version}`));
    b.manager.on('installed', (stored) => events.push(`B installed ${stored.keyset.version}`));
    const rotated = await a.manager.rotate({ secret: newSecret('converge') });
    const version = rotated.keyset.version;
    // Nothing calls B until it has installed the version: only the pub/sub notice can have made it read. (A's
    // own event and B's may come in either order: B's read races A's reply.)
    await eventually(
      async () => events,
      (seen) => seen.includes(`B installed ${version}`),
      30_000,
      2,
    );
    expect([...events].sort()).toEqual([`A wrote ${version}`, `B installed ${version}`]);
    expect(await b.manager.keyset()).toEqual(rotated);
  });

  it("the writer reads storage once for its own write, not again on its notice; another's notice it re-reads", async () => {
    const a = await replica({ cacheTtlMs: 300_000 });
    const b = await replica({ cacheTtlMs: 300_000 });
    await a.manager.start();
    await b.manager.start();
    let loads = 0;
    const load = a.storage.load.bind(a.storage);
    a.storage.load = () => {
      loads++;
      return load();
    };
    const installed: number[] = [];
    a.manager.on('installed', (stored) => installed.push(stored.keyset.version));
    const own = (await a.manager.rotate({ secret: newSecret('own') })).keyset.version;
    // B's write is announced after A's on the same channel: once A installed it, A has had its own notice too.
    const other = (await b.manager.rotate({ secret: newSecret('other') })).keyset.version;
    await eventually(
      async () => installed,
      (seen) => seen.includes(other),
      30_000,
      2,
    );
    expect(installed).toEqual([own, other]);
    // One read for the rotation's compare-and-swap, one on B's notice; none on A's own.
    expect(loads).toBe(2);
    expect(await a.manager.keyset()).toEqual(await b.manager.keyset());
  });

  it('a replica slower to import keys than the rate of changes still converges (no missed notification)', async () => {
    // WebCrypto importKey yields to I/O; slowed down, a change notification lands while a reload that read the
    // previous version is still installing it. That reload must not mark the cache fresh.
    const slowHmac: VerifyPrimitive = {
      name: 'slow-webcrypto',
      async importKey(entry) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return webCryptoVerify.importKey(entry);
      },
      verify: (key, input, signature) =>
        webCryptoVerify.verify(key as Parameters<typeof webCryptoVerify.verify>[0], input, signature),
    };
    const a = await replica();
    const b = await replica({ primitive: slowHmac });
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
