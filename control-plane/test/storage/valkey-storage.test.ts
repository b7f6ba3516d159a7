/** ValkeyStorage against a real valkey-server through the storage conformance suite. */
import { randomBytes } from 'node:crypto';
import type { Valkey } from 'iovalkey';
import { afterAll, beforeAll } from 'vitest';
import { connectAdmin, expectConsistent, readLayout } from '../../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../../test/support/valkey-server.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../../src/storage/valkey-storage.ts';
import { runStorageConformance } from './conformance.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
let valkey: ValkeyServer;
let admin: Valkey;

beforeAll(async () => {
  valkey = await startValkey();
  admin = await connectAdmin(valkey.url);
});

afterAll(async () => {
  admin?.disconnect();
  await valkey?.stop();
});

runStorageConformance('valkey', () => ({
  keysetKey: KEYSET_KEY,
  async reset(legacy) {
    await admin.flushall();
    if (legacy !== undefined) await admin.set(VALKEY_KEYS.active, legacy);
  },
  async open() {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    return storage;
  },
  snapshot: () => readLayout(admin),
  consistentKeyset: async () => (await expectConsistent(admin, KEYSET_KEY)).keyset,
  async history() {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    try {
      return await storage.history();
    } finally {
      await storage.close();
    }
  },
}));
