/**
 * A Valkey Cluster node killed (SIGKILL) amid rotations from two control planes with VALKEY_MIN_REPLICAS=1: the
 * primary of the project's hash slot dies, one of its two replicas takes over (the other follows it), and no
 * rotation that answered success is lost, no version reused, the SPEC names in step afterwards, and the edges (one
 * pushed through EDGE_URLS, one pulling KEYSET_URL) converge on the final keyset.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyset } from '../../shared/keyset-envelope.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { awaitEdgesConverged } from '../../test/support/edge-convergence.ts';
import { type EdgeProcess, startNodeEdge } from '../../test/support/edge-processes.ts';
import { expectAcknowledgedKept, startRotationStreams } from '../../test/support/rotation-streams.ts';
import { startValkeyCluster, type ValkeyClusterSetup } from '../../test/support/valkey-cluster.ts';
import { CLUSTER_KEYS } from '../src/storage/cluster-layout.ts';

const KEYSET_KEY = randomBytes(32).toString('base64url');
let cluster: ValkeyClusterSetup;
const controlPlanes: Harness[] = [];
const edges: EdgeProcess[] = [];

beforeAll(async () => {
  const [started, pushed] = await Promise.all([
    startValkeyCluster(1),
    // Pushes are its only source: it reaches the final keyset only if a control plane pushed it.
    startNodeEdge({ keysetKey: KEYSET_KEY }),
  ]);
  cluster = started;
  edges.push(pushed);
}, 60_000);

afterAll(async () => {
  for (const edge of edges) await edge.stop();
  for (const cp of controlPlanes) await cp.stop();
  await cluster?.stop();
});

describe('Valkey Cluster failover', () => {
  it('the primary of the keyset slot killed amid rotations loses no acknowledged rotation; the edges converge', async () => {
    const admin = await cluster.admin();
    const slot = Number(await admin.cluster('KEYSLOT', CLUSTER_KEYS.state));
    const range = (await admin.cluster('SLOTS')).find(([low, high]) => low <= slot && slot <= high);
    const owner = Number(range?.[2]?.[1]);
    admin.disconnect();
    // Two replicas: after the failover the new primary still has one to confirm writes.
    await cluster.addReplica(owner);
    const env = {
      VALKEY_CLUSTER_NODES: cluster.seeds.map(({ host, port }) => `${host}:${port}`).join(','),
      VALKEY_MIN_REPLICAS: '1',
    };
    const pushed = edges[0] as EdgeProcess;
    for (let i = 0; i < 2; i++) {
      controlPlanes.push(
        await startHarness({ keysetKey: KEYSET_KEY, gracePeriod: '24h', edgeUrls: [pushed.url], env }),
      );
    }
    // Not in EDGE_URLS: pulls from the second control plane whenever its keyset is a second old.
    const pulling = await startNodeEdge({
      keysetKey: KEYSET_KEY,
      keysetUrl: (controlPlanes[1] as Harness).keysetUrl,
      keysetTtl: '1s',
    });
    edges.push(pulling);

    const streams = startRotationStreams(controlPlanes);
    try {
      await waitUntil('rotations before the kill', () => streams.acknowledged.length >= 10, 15_000);
      streams.mark();
      await (cluster.nodes.find((node) => node.port === owner) as (typeof cluster.nodes)[number]).kill(
        'SIGKILL',
      );
      console.log(
        `cluster failover: ${await streams.resumed('both control planes rotating after the failover', 30_000)}`,
      );
    } finally {
      await streams.stop();
    }

    const reader = await cluster.admin();
    try {
      const keyset = parseKeyset(JSON.parse((await reader.get(CLUSTER_KEYS.state)) as string));
      await expectAcknowledgedKept(keyset, await reader.hgetall(CLUSTER_KEYS.history), streams.acknowledged);
      expect(await reader.get('jwt_secrets:keyset')).toBe(await reader.get(CLUSTER_KEYS.keyset));
      expect((await reader.get('jwt_secrets:active')) === (await reader.get(CLUSTER_KEYS.active))).toBe(true);
      const tookMs = await awaitEdgesConverged(
        [
          { name: 'pushed edge', url: pushed.url },
          { name: 'pulling edge', url: pulling.url },
        ],
        keyset.version,
        (await reader.get(CLUSTER_KEYS.active)) as string,
        15_000,
      );
      console.log(
        `cluster failover: both edges on version ${keyset.version} ${Math.round(tookMs)} ms after the check began`,
      );
    } finally {
      reader.disconnect();
    }
  }, 90_000);
});
