/**
 * The Valkey Cluster layout. A script may only touch keys of one hash slot, so the project's own keys carry the
 * hash tag `{jwt_secrets}` and change together in the one swap script, in-slot copies of the active secret, the
 * signing key and the envelope included. `jwt_secrets:active`, `jwt_secrets:keyset` and
 * `jwt_secrets:signing_key` keep their names (SPEC sections 4 and 8) and live in other slots: they follow right
 * after the swap, each guarded by the keyset version it holds (a key `{jwt_secrets:active}:version` in its own
 * slot), so a slower writer never puts an older keyset back.
 */
import type { Cluster } from 'iovalkey';
import { repliesOf } from './valkey-client.ts';
import type { VALKEY_KEYS } from './valkey-storage.ts';

export const CLUSTER_KEYS = {
  active: '{jwt_secrets}:active',
  signingKey: '{jwt_secrets}:signing_key',
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
  // In the slot with the audit log their script appends to; edges that pull through Upstash read a standalone
  // Valkey, so on a Cluster these are not kept by name.
  revocations: '{jwt_secrets}:revocations',
  revocationDeltas: '{jwt_secrets}:revocation_deltas',
  revocationSerial: '{jwt_secrets}:revocation_serial',
  edges: '{jwt_secrets}:edges',
  ackProbe: '{jwt_secrets}:ack_probe',
} as const satisfies Record<keyof typeof VALKEY_KEYS, string>;

/**
 * The keys kept by name, the version guard of each (same slot: the guard's hash tag is the key's whole name),
 * and which of the follower values each holds.
 */
export const FOLLOWER_KEYS = [
  { key: 'jwt_secrets:active', guard: '{jwt_secrets:active}:version', holds: 'active' },
  { key: 'jwt_secrets:keyset', guard: '{jwt_secrets:keyset}:version', holds: 'envelope' },
  { key: 'jwt_secrets:signing_key', guard: '{jwt_secrets:signing_key}:version', holds: 'signingKey' },
] as const;

/** ARGV[3] '1' deletes the key (jwt_secrets:active once no HS256 key is left) instead of setting it. */
const FOLLOW_SCRIPT = `
local held = redis.call('GET', KEYS[2])
if tonumber(held or '0') >= tonumber(ARGV[1]) then
  if ARGV[4] == '1' and held then redis.call('SET', KEYS[2], held) end
  return 0
end
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
redis.call('SET', KEYS[2], ARGV[1])
return 1
`;

/** What the keys kept by name should hold at keyset `version`. */
export interface FollowerValues {
  version: number;
  /** The legacy secret; null deletes jwt_secrets:active (no HS256 key left). */
  active: string | null;
  /** The envelope; null leaves jwt_secrets:keyset as it is (a write without one keeps the last). */
  envelope: string | null;
  /** The private JWK of the active key; null leaves jwt_secrets:signing_key as it is (none in the slot yet). */
  signingKey: string | null;
}

/**
 * Brings the keys kept by name up to `values` unless they already hold that version or a newer one. With
 * `minReplicas`, each write is also confirmed on that many replicas of its node; returns the fewest replicas
 * that acknowledged (Infinity without `minReplicas`).
 */
export async function writeFollowers(
  client: Cluster,
  values: FollowerValues,
  minReplicas: number,
  ackTimeoutMs: number,
): Promise<number> {
  const writes = FOLLOWER_KEYS.map(({ key, guard, holds }) => {
    const value = values[holds];
    const remove = holds === 'active' && value === null;
    if (value === null && !remove) return Promise.resolve(Number.POSITIVE_INFINITY);
    const pipeline = client.pipeline().eval(
      FOLLOW_SCRIPT,
      2,
      key,
      guard,
      String(values.version),
      value ?? '',
      remove ? '1' : '0',
      // Held already (by another writer): the guard written again, unchanged, so that the WAIT after it
      // covers that writer's values too, WAIT counting only this connection's writes.
      minReplicas > 0 ? '1' : '0',
    );
    if (minReplicas > 0) pipeline.wait(minReplicas, ackTimeoutMs);
    return repliesOf(pipeline).then((replies) =>
      minReplicas > 0 ? Number(replies[1]) : Number.POSITIVE_INFINITY,
    );
  });
  return Math.min(...(await Promise.all(writes)));
}
