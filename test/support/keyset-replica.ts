/** A control plane replica's keyset layer over a real valkey-server: a ValkeyStorage and a KeysetManager on it. */
import type { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { KeysetManager, type KeysetManagerOptions } from '../../control-plane/src/keyset/keyset-manager.ts';
import { ValkeyStorage, type ValkeyStorageOptions } from '../../control-plane/src/storage/valkey-storage.ts';
import { parseSigningSeed } from '../../shared/keyset-signing-key.ts';
import { KEYSET_SIGNING_KEY } from './keysets.ts';
import { connectAdmin } from './valkey-layout.ts';
import { startValkey, type ValkeyServer } from './valkey-server.ts';

export interface KeysetReplica {
  storage: ValkeyStorage;
  manager: KeysetManager;
  warnings: string[];
}

/**
 * Opens replicas on Valkey at a URL, sealing with `keysetKey` and signing with the test KEYSET_SIGNING_KEY (a day of grace, a 300 s cache unless told), and
 * pushes the closing of each onto `cleanups`.
 */
export function replicaFactory(keysetKey: Uint8Array, cleanups: Array<() => Promise<void>>) {
  return async (
    url: string,
    options: Partial<KeysetManagerOptions> = {},
    storageOptions: Partial<ValkeyStorageOptions> = {},
  ): Promise<KeysetReplica> => {
    const storage = new ValkeyStorage({ url, ...storageOptions });
    await storage.connect();
    const warnings: string[] = [];
    const manager = new KeysetManager({
      storage,
      keysetKey,
      signingKey: parseSigningSeed(KEYSET_SIGNING_KEY),
      gracePeriodMs: 86_400_000,
      cacheTtlMs: 300_000,
      onWarning: (message) => warnings.push(message),
      ...options,
    });
    cleanups.push(async () => {
      await manager.stop();
      await storage.close();
    });
    return { storage, manager, warnings };
  };
}

/**
 * One valkey-server for the calling test file: started before all its tests, emptied before each, replicas
 * closed after each. Call at the top of a `describe` (or of the file).
 */
export function useValkeyReplicas(keysetKey: Uint8Array) {
  const cleanups: Array<() => Promise<void>> = [];
  const open = replicaFactory(keysetKey, cleanups);
  let valkey: ValkeyServer | undefined;
  let admin: Valkey | undefined;
  beforeAll(async () => {
    valkey = await startValkey();
    admin = await connectAdmin(valkey.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await valkey?.stop();
  });
  beforeEach(async () => {
    await admin?.flushall();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  return {
    get valkey(): ValkeyServer {
      return valkey as ValkeyServer;
    },
    get admin(): Valkey {
      return admin as Valkey;
    },
    /** A replica on this file's Valkey. */
    replica: (options: Partial<KeysetManagerOptions> = {}) => open((valkey as ValkeyServer).url, options),
    /** A replica reaching Valkey at another URL (through a proxy, say). */
    replicaAt: open,
  };
}
