/** A started KeysetManager over env storage with its own random first secret, sealing with the test keys. */
import { randomBytes } from 'node:crypto';
import { KeysetManager } from '../../control-plane/src/keyset/keyset-manager.ts';
import { EnvStorage } from '../../control-plane/src/storage/env-storage.ts';
import { KEYSET_SIGNING_SEED } from './keysets.ts';

/** Two calls give two control planes whose keysets share version 1 but nothing else. */
export async function startEnvKeysetManager(keysetKey: Uint8Array): Promise<KeysetManager> {
  const manager = new KeysetManager({
    storage: new EnvStorage(randomBytes(48).toString('base64')),
    keysetKey,
    signingKey: KEYSET_SIGNING_SEED,
    gracePeriodMs: 60_000,
    cacheTtlMs: 300_000,
  });
  await manager.start();
  return manager;
}
