/**
 * ValkeyStorage on a real 3-node Valkey Cluster through the storage conformance suite: the keys of one hash slot
 * change in one script, and jwt_secrets:active / jwt_secrets:keyset, in other slots, agree with them once the
 * call has answered.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'iovalkey';
import { afterAll, beforeAll, expect } from 'vitest';
import { legacyActiveSecret } from '../../../shared/keyset.ts';
import { startValkeyCluster, type ValkeyClusterSetup } from '../../../test/support/valkey-cluster.ts';
import { expectLayoutConsistent, expectSame } from '../../../test/support/valkey-layout.ts';
import { CLUSTER_KEYS, FOLLOWER_KEYS } from '../../src/storage/cluster-layout.ts';
import { VALKEY_KEYS, ValkeyStorage } from '../../src/storage/valkey-storage.ts';
import { historyThrough, runStorageConformance } from './conformance.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
let cluster: ValkeyClusterSetup;
let admin: Cluster;

beforeAll(async () => {
  cluster = await startValkeyCluster();
  admin = await cluster.admin();
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await cluster?.stop();
});

/** Every key of the layout, each read on its own node. */
async function readClusterLayout() {
  const [active, envelope, state, version, signingKey] = await admin.mget(
    CLUSTER_KEYS.active,
    CLUSTER_KEYS.keyset,
    CLUSTER_KEYS.state,
    CLUSTER_KEYS.version,
    CLUSTER_KEYS.signingKey,
  );
  const followers = await Promise.all(
    FOLLOWER_KEYS.flatMap(({ key, guard }) => [admin.get(key), admin.get(guard)]),
  );
  const history = await admin.hgetall(CLUSTER_KEYS.history);
  return { active, envelope, state, version, signingKey, history, followers };
}

async function openStorage(): Promise<ValkeyStorage> {
  const storage = new ValkeyStorage({ clusterNodes: cluster.seeds });
  await storage.connect();
  return storage;
}

runStorageConformance('valkey cluster', () => ({
  keysetKey: KEYSET_KEY,
  async reset(legacy) {
    await Promise.all(admin.nodes('master').map((node) => node.flushall()));
    if (legacy !== undefined) await admin.set(VALKEY_KEYS.active, legacy);
  },
  open: openStorage,
  snapshot: readClusterLayout,
  async consistentKeyset() {
    const layout = await readClusterLayout();
    // The in-slot copies hold what the standalone layout holds under the SPEC names.
    const keyset = await expectLayoutConsistent(layout, KEYSET_KEY);
    const [active, activeVersion, envelope, envelopeVersion, signingKey, signingKeyVersion] =
      layout.followers;
    expectSame(
      active,
      legacyActiveSecret(keyset),
      'jwt_secrets:active follows the keyset (absent: no HS256 key)',
    );
    expectSame(envelope, layout.envelope, 'jwt_secrets:keyset follows the keyset');
    expectSame(signingKey, layout.signingKey, 'jwt_secrets:signing_key follows the keyset');
    expect([activeVersion, envelopeVersion, signingKeyVersion]).toEqual([
      layout.version,
      layout.version,
      layout.version,
    ]);
    return keyset;
  },
  async published() {
    const [active, envelope, signingKey] = await Promise.all(FOLLOWER_KEYS.map(({ key }) => admin.get(key)));
    return { active, envelope, signingKey };
  },
  history: () => historyThrough(openStorage),
}));
