/**
 * Valkey's `maxmemory-policy`, checked once at start-up. Keyward's keys (`jwt_secrets:*`) carry no TTL, so a
 * `volatile-*` policy or `noeviction` never evicts them; an `allkeys-*` policy (common on a Valkey shared as a
 * cache) may, once `maxmemory` is reached, drop the keyset, the signing key or the history, and the control plane
 * would then start again from nothing. Only a warning: the policy is the Valkey operator's to set, and a managed
 * service or an ACL may refuse `CONFIG GET`, which is then logged as not checked.
 */

import { Cluster, type Valkey } from 'iovalkey';
import type { Logger } from '../logger.ts';
import type { ValkeyClient } from './valkey-client.ts';

export interface NodePolicy {
  /** host:port of the node asked. */
  node: string;
  /** The policy, or null when the node refused or failed to tell. */
  policy: string | null;
  /** Why not, when `policy` is null: the error's first line. */
  reason?: string;
}

/** Policies that may evict a key without a TTL. */
export const isEvictingAllKeys = (policy: string): boolean => policy.toLowerCase().startsWith('allkeys-');

/** Asks every primary of `client` (the one server, Sentinel's primary, or each Cluster primary). */
export async function readEvictionPolicies(client: ValkeyClient): Promise<NodePolicy[]> {
  const nodes: Valkey[] = client instanceof Cluster ? client.nodes('master') : [client];
  return Promise.all(
    nodes.map(async (node) => {
      // Through Sentinel the options name no host: the client asks the primary the Sentinels named.
      const name =
        node.options.sentinels && node.options.sentinels.length > 0
          ? `the primary of ${node.options.name ?? 'the Sentinel group'}`
          : `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
      try {
        const reply = (await node.config('GET', 'maxmemory-policy')) as unknown;
        const policy = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : null;
        return policy === null
          ? { node: name, policy, reason: 'CONFIG GET answered nothing' }
          : { node: name, policy };
      } catch (error) {
        const reason = String((error as Error).message ?? error)
          .split('\n')[0]
          ?.slice(0, 200);
        return { node: name, policy: null, reason };
      }
    }),
  );
}

/** Logs a warning for every primary with an allkeys-* policy, and once when a primary could not be asked. */
export function reportEvictionPolicies(policies: NodePolicy[], logger: Logger): void {
  for (const { node, policy, reason } of policies) {
    if (policy === null) {
      logger.info(
        { node, reason },
        `Could not check Valkey's maxmemory-policy on ${node} (${reason}): make sure it is noeviction or a volatile-* policy, since an allkeys-* policy can evict Keyward's keys`,
      );
    } else if (isEvictingAllKeys(policy)) {
      logger.warn(
        { node, maxmemory_policy: policy },
        `Valkey on ${node} has maxmemory-policy ${policy}: once maxmemory is reached it may evict jwt_secrets:* keys (the keyset, the signing key, the history). Set maxmemory-policy noeviction, or a volatile-* policy (Keyward's keys carry no TTL), or give Keyward a Valkey of its own`,
      );
    }
  }
}
