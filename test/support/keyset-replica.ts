/** A control plane replica's keyset layer over a real valkey-server: a ValkeyStorage and a KeysetManager on it. */
import { KeysetManager, type KeysetManagerOptions } from '../../control-plane/src/keyset/keyset-manager.ts';
import { ValkeyStorage, type ValkeyStorageOptions } from '../../control-plane/src/storage/valkey-storage.ts';

export interface KeysetReplica {
  storage: ValkeyStorage;
  manager: KeysetManager;
  warnings: string[];
}

/**
 * Opens replicas on Valkey at a URL, sealing with `keysetKey` (a day of grace, a 300 s cache unless told), and
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
