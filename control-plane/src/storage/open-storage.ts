/** Opens the storage the configuration names: Valkey (connected, or a start-up error that says why) or env. */
import { readFileSync } from 'node:fs';
import type { ControlPlaneConfig } from '../config.ts';
import { EnvStorage } from './env-storage.ts';
import type { KeysetStorage } from './keyset-storage.ts';
import { explainValkeyConnectFailure } from './valkey-connect-failure.ts';
import { ValkeyStorage } from './valkey-storage.ts';

/** The configured storage, ready to use. */
export async function openStorage(config: ControlPlaneConfig): Promise<KeysetStorage> {
  if (config.storage !== 'valkey') return new EnvStorage(config.jwtSecret, config.jwtPreviousSecrets);
  const url = config.valkeyUrl as string;
  const tls = config.valkeyTlsCa ? { ca: readFileSync(config.valkeyTlsCa) } : undefined;
  const storage = new ValkeyStorage({ url, tls });
  try {
    await storage.connect();
  } catch (error) {
    // The client keeps reconnecting in the background: stop it, or a failed start never exits.
    await storage.close();
    throw await explainValkeyConnectFailure(url, config.valkeyTlsCa, error);
  }
  return storage;
}
