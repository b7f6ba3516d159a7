/**
 * ValkeyStorage through a real Sentinel (primary, replica, Sentinel on loopback) through the storage conformance
 * suite, with VALKEY_MIN_REPLICAS=1: every change is confirmed by the replica before it is acknowledged.
 */
import { randomBytes } from 'node:crypto';
import type { Valkey } from 'iovalkey';
import { afterAll, beforeAll } from 'vitest';
import { connectAdmin, expectConsistent, readLayout } from '../../../test/support/valkey-layout.ts';
import {
  SENTINEL_MASTER,
  type SentinelSetup,
  startSentinelSetup,
} from '../../../test/support/valkey-sentinel.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../../src/storage/valkey-storage.ts';
import { historyThrough, publishedIn, runStorageConformance } from './conformance.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
let setup: SentinelSetup;
let admin: Valkey;

beforeAll(async () => {
  setup = await startSentinelSetup();
  admin = await connectAdmin(setup.primary.url);
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await setup?.stop();
});

async function openStorage(): Promise<ValkeyStorage> {
  const storage = new ValkeyStorage({
    sentinels: setup.sentinels,
    sentinelMaster: SENTINEL_MASTER,
    minReplicas: 1,
  });
  await storage.connect();
  return storage;
}

runStorageConformance('valkey sentinel', () => ({
  keysetKey: KEYSET_KEY,
  async reset(legacy) {
    await admin.flushall();
    if (legacy !== undefined) await admin.set(VALKEY_KEYS.active, legacy);
  },
  open: openStorage,
  snapshot: () => readLayout(admin),
  consistentKeyset: async () => (await expectConsistent(admin, KEYSET_KEY)).keyset,
  history: () => historyThrough(openStorage),
  published: () => publishedIn(admin),
}));
