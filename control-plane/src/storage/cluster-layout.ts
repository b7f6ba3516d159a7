/**
 * The Valkey Cluster layout. A script may only touch keys of one hash slot, so the project's own keys carry the
 * hash tag `{jwt_secrets}` and change together in the one swap script, in-slot copies of the active secret and
 * the envelope included. `jwt_secrets:active` and `jwt_secrets:keyset` keep their names (SPEC section 4) and
 * live in other slots: they follow right after the swap, each guarded by the keyset version it holds (a key
 * `{jwt_secrets:active}:version` in its own slot), so a slower writer never puts an older keyset back.
 */
import type { Cluster } from 'iovalkey';
import type { VALKEY_KEYS } from './valkey-storage.ts';

export const CLUSTER_KEYS = {
  active: '{jwt_secrets}:active',
  keyset: '{jwt_secrets}:keyset',
  state: '{jwt_secrets}:state',
  version: '{jwt_secrets}:version',
  history: '{jwt_secrets}:history',
  chain: '{jwt_secrets}:chain',
  audit: '{jwt_secrets}:audit',
  auditHead: '{jwt_secrets}:audit_head',
  // Plain PUBLISH reaches subscribers on every node of a Cluster.
  changed: 'jwt_secrets:changed',
  lockPrefix: '{jwt_secrets}:lock:',
} as const satisfies Record<keyof typeof VALKEY_KEYS, string>;

/**
 * The keys SPEC section 4 names, and the version guard of each (same slot: the guard's hash tag is the key's
 * whole name).
 */
export const FOLLOWER_KEYS = [
  { key: 'jwt_secrets:active', guard: '{jwt_secrets:active}:version' },
  { key: 'jwt_secrets:keyset', guard: '{jwt_secrets:keyset}:version' },
] as const;

const FOLLOW_SCRIPT = `
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return 1
`;

/** What the keys kept by name should hold: the keyset version, the active secret, the envelope (if any). */
export interface FollowerValues {
  version: number;
  active: string;
  envelope: string | null;
}

/**
 * Brings `jwt_secrets:active` and `jwt_secrets:keyset` up to `values` unless they already hold that version or
 * a newer one. With `minReplicas`, each write is also confirmed on that many replicas of its node; returns the
 * fewest replicas that acknowledged (Infinity without `minReplicas`).
 */
export async function writeFollowers(
  client: Cluster,
  values: FollowerValues,
  minReplicas: number,
  ackTimeoutMs: number,
): Promise<number> {
  const writes = FOLLOWER_KEYS.map(({ key, guard }, i) => {
    const value = i === 0 ? values.active : values.envelope;
    if (value === null) return Promise.resolve(Number.POSITIVE_INFINITY);
    const pipeline = client.pipeline().eval(FOLLOW_SCRIPT, 2, key, guard, String(values.version), value);
    if (minReplicas > 0) pipeline.wait(minReplicas, ackTimeoutMs);
    return pipeline.exec().then((results) => {
      for (const [error] of results ?? []) if (error) throw error;
      return minReplicas > 0 ? Number(results?.[1]?.[1]) : Number.POSITIVE_INFINITY;
    });
  });
  return Math.min(...(await Promise.all(writes)));
}
