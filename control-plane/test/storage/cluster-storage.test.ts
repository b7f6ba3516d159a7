/**
 * ValkeyStorage on a real 3-node Valkey Cluster through the storage conformance suite: the keys of one hash slot
 * change in one script, and jwt_secrets:active / jwt_secrets:keyset, in other slots, agree with them once the
 * call has answered.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyActiveSecret, rotateKeyset, signingJwk } from '../../../shared/keyset.ts';
import { sealKeyset } from '../../../shared/keyset-envelope.ts';
import { EDDSA_PAIR, ES256_PAIR } from '../../../test/support/key-pairs.ts';
import { sealingKeys } from '../../../test/support/keysets.ts';
import { startValkeyCluster, type ValkeyClusterSetup } from '../../../test/support/valkey-cluster.ts';
import { expectLayoutConsistent, expectSame } from '../../../test/support/valkey-layout.ts';
import { CLUSTER_KEYS, FOLLOWER_KEYS, writeFollowers } from '../../src/storage/cluster-layout.ts';
import { UnacknowledgedChangeError, VALKEY_KEYS, ValkeyStorage } from '../../src/storage/valkey-storage.ts';
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
    // The slot is written first and the named keys after it (README, "On a Valkey Cluster"): while a background
    // prune's follow-up write is in flight they still hold the previous version. Read once they have caught up
    // (bounded), then check everything.
    let layout = await readClusterLayout();
    for (
      let tries = 0;
      tries < 200 && layout.followers.some((v, i) => i % 2 === 1 && v !== layout.version);
      tries++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      layout = await readClusterLayout();
    }
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

describe('the keys a Cluster keeps by name', () => {
  const [active, , signingKey] = FOLLOWER_KEYS;

  /** Key pairs only (no HS256 key): version 1 EdDSA, then version 2 ES256 with EdDSA previous. */
  async function writePairs(storage: ValkeyStorage) {
    const options = { now: new Date(), gracePeriodMs: 86_400_000 };
    const first = rotateKeyset(null, EDDSA_PAIR, options);
    const second = rotateKeyset(first, ES256_PAIR, options);
    const sealing = await sealingKeys(KEYSET_KEY);
    expect(
      await storage.compareAndSwap(0, { keyset: first, envelope: await sealKeyset(first, sealing) }),
    ).toBe(true);
    expect(
      await storage.compareAndSwap(1, { keyset: second, envelope: await sealKeyset(second, sealing) }),
    ).toBe(true);
    return second;
  }

  it('are repaired at connect: signing_key written, jwt_secrets:active deleted when no HS256 key is left', async () => {
    await Promise.all(admin.nodes('master').map((node) => node.flushall()));
    const writer = await openStorage();
    const keyset = await writePairs(writer);
    await writer.close();
    // A writer stopped between the swap and the followers: they still hold what an earlier keyset gave them.
    await admin.set(active.key, 'an-hs256-secret-of-an-earlier-keyset-0123456789');
    await admin.set(active.guard, '1');
    await admin.del(signingKey.key);
    await admin.del(signingKey.guard);

    const restarted = await openStorage();
    await restarted.close();
    expect(await admin.get(active.key)).toBeNull();
    expect(await admin.get(active.guard)).toBe('2');
    expectSame(
      JSON.parse((await admin.get(signingKey.key)) as string),
      signingJwk(keyset),
      'signing_key repaired',
    );
    expect(await admin.get(signingKey.guard)).toBe('2');
  });

  it('are brought up to the slot by a write that lost its compare-and-swap; with VALKEY_MIN_REPLICAS and no replica that write answers UNAVAILABLE', async () => {
    await Promise.all(admin.nodes('master').map((node) => node.flushall()));
    const writer = await openStorage();
    const keyset = await writePairs(writer);
    const stale = { keyset, envelope: await sealKeyset(keyset, await sealingKeys(KEYSET_KEY)) };
    // The followers fell behind after the writer answered (as if its follower writes were lost).
    await admin.del(signingKey.key);
    await admin.set(signingKey.guard, '1');
    expect(await writer.compareAndSwap(1, stale)).toBe(false);
    expectSame(
      JSON.parse((await admin.get(signingKey.key)) as string),
      signingJwk(keyset),
      'signing_key brought up to the slot',
    );
    expect(await admin.get(signingKey.guard)).toBe('2');
    await writer.close();

    // This cluster has no replicas: what the slot holds cannot be confirmed on one.
    const strict = new ValkeyStorage({
      clusterNodes: cluster.seeds,
      minReplicas: 1,
      commandTimeoutMs: 1_000,
    });
    await strict.connect();
    try {
      const refusal = await strict.compareAndSwap(1, stale).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(UnacknowledgedChangeError);
      expect((refusal as Error).message).toContain('Another write got there first');
      expect((refusal as Error).message).toContain('0 of the 1 required replicas');
    } finally {
      await strict.close();
    }
  });

  it('a slower writer never puts an older signing key or legacy secret back', async () => {
    await Promise.all(admin.nodes('master').map((node) => node.flushall()));
    const writer = await openStorage();
    const keyset = await writePairs(writer);
    await writer.close();
    const older = {
      version: 1,
      active: 'an-older-hs256-secret-0123456789abcdef',
      envelope: null,
      signingKey: '{}',
    };
    await writeFollowers(admin, older, 0, 0);
    expect(await admin.get(active.key)).toBeNull();
    expectSame(
      JSON.parse((await admin.get(signingKey.key)) as string),
      signingJwk(keyset),
      'signing_key kept',
    );
  });
});
