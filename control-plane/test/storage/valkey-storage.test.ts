/** ValkeyStorage against a real valkey-server through the storage conformance suite. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useValkeyReplicas } from '../../../test/support/keyset-replica.ts';
import { expectConsistent, readLayout } from '../../../test/support/valkey-layout.ts';
import { ConfigError } from '../../src/errors.ts';
import { UnacknowledgedChangeError, VALKEY_KEYS, ValkeyStorage } from '../../src/storage/valkey-storage.ts';
import { historyThrough, publishedIn, runStorageConformance } from './conformance.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
const fixture = useValkeyReplicas(KEYSET_KEY);

async function openStorage(): Promise<ValkeyStorage> {
  const storage = new ValkeyStorage({ url: fixture.valkey.url });
  await storage.connect();
  return storage;
}

runStorageConformance('valkey', () => ({
  keysetKey: KEYSET_KEY,
  async reset(legacy) {
    await fixture.admin.flushall();
    if (legacy !== undefined) await fixture.admin.set(VALKEY_KEYS.active, legacy);
  },
  open: openStorage,
  snapshot: () => readLayout(fixture.admin),
  consistentKeyset: async () => (await expectConsistent(fixture.admin, KEYSET_KEY)).keyset,
  history: () => historyThrough(openStorage),
  published: () => publishedIn(fixture.admin),
}));

describe('the database in VALKEY_URL', () => {
  it('is used when the server has it, and stops start-up naming VALKEY_URL when it has not', async () => {
    const inDb2 = new ValkeyStorage({ url: `${fixture.valkey.url}/2` });
    await inDb2.connect();
    await inDb2.registerEdge('https://edge.example', Date.now() + 60_000);
    await inDb2.close();
    await fixture.admin.select(2);
    expect(await fixture.admin.exists(VALKEY_KEYS.edges)).toBe(1);
    await fixture.admin.select(0);
    expect(await fixture.admin.exists(VALKEY_KEYS.edges)).toBe(0);

    const missing = new ValkeyStorage({ url: `${fixture.valkey.url}/99` });
    try {
      const refusal = await missing.connect().catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(ConfigError);
      expect((refusal as ConfigError).variable).toBe('VALKEY_URL');
      expect((refusal as Error).message).toContain('database 99');
    } finally {
      await missing.close();
    }
  });
});

describe('a revocation that lost its compare-and-swap, with VALKEY_MIN_REPLICAS', () => {
  it('answers UNAVAILABLE when what storage holds reached too few replicas (this server has none)', async () => {
    await fixture.admin.flushall();
    const writer = await openStorage();
    expect(await writer.appendRevocations(0, { serial: 10, document: 'delta-10' })).toBe(true);
    await writer.close();
    const strict = new ValkeyStorage({ url: fixture.valkey.url, minReplicas: 1, commandTimeoutMs: 1_000 });
    await strict.connect();
    try {
      // Lost to the write above, which the caller would find in place were it its own.
      const refusal = await strict
        .appendRevocations(0, { serial: 11, document: 'delta-11' })
        .catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(UnacknowledgedChangeError);
      expect((refusal as Error).message).toContain('Another write got there first');
      expect((await strict.loadRevocations(0)).serial).toBe(10);
    } finally {
      await strict.close();
    }
  });
});
