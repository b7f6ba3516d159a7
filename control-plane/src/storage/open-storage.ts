/** Opens the storage the configuration names: Valkey (connected, or a start-up error that says why) or env. */
import { readFileSync } from 'node:fs';
import type { ControlPlaneConfig } from '../config.ts';
import { StorageUnavailableError } from '../errors.ts';
import { EnvStorage } from './env-storage.ts';
import type { KeysetStorage } from './keyset-storage.ts';
import { explainValkeyConnectFailure } from './valkey-connect-failure.ts';
import { ValkeyStorage } from './valkey-storage.ts';

/** The configured storage, ready to use. */
export async function openStorage(config: ControlPlaneConfig): Promise<KeysetStorage> {
  if (config.storage !== 'valkey') return new EnvStorage(config.jwtSecret, config.jwtPreviousSecrets);
  const tls = config.valkeyTlsCa ? { ca: readFileSync(config.valkeyTlsCa) } : undefined;
  const storage = new ValkeyStorage({
    url: config.valkeyUrl,
    tls,
    sentinels: config.valkeySentinels,
    sentinelMaster: config.valkeySentinelMaster,
    clusterNodes: config.valkeyClusterNodes,
    minReplicas: config.valkeyMinReplicas,
  });
  try {
    await storage.connect();
  } catch (error) {
    // The client keeps reconnecting in the background: stop it, or a failed start never exits.
    await storage.close();
    const through = describeDiscovery(config);
    if (through !== null) {
      const reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      throw new StorageUnavailableError(`Cannot connect to Valkey through ${through}: ${reason}`, {
        cause: error,
      });
    }
    throw await explainValkeyConnectFailure(config.valkeyUrl as string, config.valkeyTlsCa, error);
  }
  return storage;
}

/** The Sentinels or Cluster seeds the control plane asked (no credentials in them), or null for VALKEY_URL. */
function describeDiscovery(config: ControlPlaneConfig): string | null {
  const list = (nodes: Array<{ host: string; port: number }>) =>
    nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  if (config.valkeySentinels.length > 0)
    return `Sentinel (master ${config.valkeySentinelMaster} at ${list(config.valkeySentinels)})`;
  if (config.valkeyClusterNodes.length > 0) return `Cluster seeds ${list(config.valkeyClusterNodes)}`;
  return null;
}
