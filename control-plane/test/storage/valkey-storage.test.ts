/** ValkeyStorage against a real valkey-server through the storage conformance suite. */
import { randomBytes } from 'node:crypto';
import { useValkeyReplicas } from '../../../test/support/keyset-replica.ts';
import { expectConsistent, readLayout } from '../../../test/support/valkey-layout.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../../src/storage/valkey-storage.ts';
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
