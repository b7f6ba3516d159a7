/**
 * The Valkey client for each deployment: one server at a URL, a primary found through Sentinel (followed across
 * failovers), or a Cluster (following MOVED/ASK through resharding and failover). Credentials, TLS and the
 * database come from the URL in every case (SPEC section 10); Sentinel and Cluster replace its host and port.
 */
import { Cluster, type RedisOptions, Valkey } from 'iovalkey';
import type { HostPort } from '../config.ts';

export type ValkeyClient = Valkey | Cluster;

export interface ValkeyTarget {
  /** redis:// or rediss:// URL; with Sentinel or Cluster only its credentials, TLS and database are used. */
  url?: string;
  /** Sentinels to ask for the primary of `sentinelMaster`. */
  sentinels?: HostPort[];
  sentinelMaster?: string;
  /** Seed nodes of a Valkey Cluster. */
  clusterNodes?: HostPort[];
  /** Extra TLS options for rediss:// (a private CA, for instance). */
  tls?: { ca?: string | Buffer };
}

/** Per-connection settings every client gets (timeouts, retries). */
export type ConnectionSettings = Pick<
  RedisOptions,
  'connectTimeout' | 'commandTimeout' | 'socketTimeout' | 'maxRetriesPerRequest' | 'retryStrategy'
>;

/** Rounds over every Sentinel before a start-up with none answering gives up. */
const SENTINEL_START_ATTEMPTS = 3;

/** A client for `target`, not yet connected (`lazyConnect`), failing fast while Valkey is away. */
export function createValkeyClient(target: ValkeyTarget, settings: ConnectionSettings): ValkeyClient {
  const fromUrl = urlOptions(target);
  if (target.clusterNodes && target.clusterNodes.length > 0) {
    const { retryStrategy, ...perNode } = settings;
    return new Cluster(target.clusterNodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => retryStrategy?.(attempt) ?? null,
      slotsRefreshTimeout: settings.connectTimeout,
      redisOptions: { ...perNode, ...fromUrl },
    });
  }
  const common: RedisOptions = { lazyConnect: true, enableOfflineQueue: false, ...settings, ...fromUrl };
  if (target.sentinels && target.sentinels.length > 0) {
    let reachedOnce = false;
    const client = new Valkey({
      ...common,
      // At start-up, Sentinels that never answer stop the start with a reason; once running, keep asking.
      sentinelRetryStrategy: (attempt) =>
        reachedOnce || attempt < SENTINEL_START_ATTEMPTS ? Math.min(attempt * 100, 2_000) : null,
      sentinels: target.sentinels,
      name: target.sentinelMaster ?? 'mymaster',
      // Reconnect at once when the Sentinels announce a new primary (the old one may still be reachable).
      failoverDetector: true,
      // A primary demoted to replica answers writes with READONLY: find the new one.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
      ...(fromUrl.tls ? { enableTLSForSentinelMode: true, sentinelTLS: fromUrl.tls } : {}),
    });
    client.once('ready', () => {
      reachedOnce = true;
    });
    return client;
  }
  return new Valkey(target.url as string, common);
}

/** A pipeline's replies in order; rejects with the first command's error, if any failed. */
export async function repliesOf(pipeline: ReturnType<ValkeyClient['pipeline']>): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  for (const [error] of replies) if (error) throw error;
  return replies.map(([, reply]) => reply);
}

/** The database number VALKEY_URL names after the host (0 when none). */
export function databaseOf(url: string | undefined): number {
  return Number((url === undefined ? null : URL.parse(url))?.pathname.slice(1) || 0);
}

/** Credentials, database and TLS from the URL (the Valkey client reads host and port from it as well). */
function urlOptions(target: ValkeyTarget): RedisOptions {
  const url = target.url === undefined ? null : URL.parse(target.url);
  if (url === null) return {};
  const db = databaseOf(target.url);
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db > 0 ? { db } : {}),
    ...(url.protocol === 'rediss:' ? { tls: { ...target.tls } } : {}),
  };
}
