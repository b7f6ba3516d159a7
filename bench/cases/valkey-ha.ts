/**
 * RotateSecret against the three Valkey set-ups side by side (standalone; Sentinel with and without
 * VALKEY_MIN_REPLICAS=1; Cluster with and without it), and failover: the time from a primary's SIGKILL to the
 * first successful RotateSecret started after it, through Sentinel and through a Cluster. Every Valkey is a real
 * valkey-server on loopback started as the tests start them (test/support/valkey-sentinel.ts, valkey-cluster.ts,
 * with their short detection timeouts), and each control plane runs as its own process (`control-plane/src/main.ts`)
 * so the load generator's work is not in its event loop. No edges: only the store's part of a rotation is measured.
 */
import { randomBytes } from 'node:crypto';
import { Valkey } from 'iovalkey';
import { CLUSTER_KEYS } from '../../control-plane/src/storage/cluster-layout.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import {
  type ControlPlaneProcess,
  startControlPlaneProcess,
} from '../../test/support/control-plane-process.ts';
import { quantile } from '../../test/support/stats.ts';
import { valkeyVersion } from '../../test/support/tool-versions.ts';
import { startValkeyCluster, type ValkeyClusterSetup } from '../../test/support/valkey-cluster.ts';
import {
  SENTINEL_MASTER,
  type SentinelSetup,
  startSentinelSetup,
} from '../../test/support/valkey-sentinel.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { figures, type LatencyFigures } from './rotation.ts';

export interface HaLatency {
  /** standalone, sentinel, sentinel+wait1, cluster, cluster+wait1 */
  name: string;
  description: string;
  minReplicas: number;
  rotateSecret: LatencyFigures;
  /**
   * The median over rounds of (this set-up's call minus the standalone call of the same round): what the set-up
   * adds, less sensitive to the machine's load drifting than a difference of medians (0 for standalone).
   */
  addedOverStandaloneMs: number;
}

export interface FailoverFigures {
  setUp: 'sentinel' | 'cluster';
  /** How quickly the set-up notices a dead primary (Sentinel down-after-milliseconds, cluster-node-timeout). */
  detection: string;
  rounds: number;
  /** From the SIGKILL until the set-up had promoted a replica (Sentinel names it, it takes writes), per round. */
  promotedMs: number[];
  /** From the SIGKILL until the first RotateSecret started after it answered success, per round. */
  firstRotationMs: number[];
  /** RotateSecret calls that failed between the kill and that success, per round. */
  failedCalls: number[];
}

export interface HaBench {
  valkeyVersion: string;
  gracePeriod: string;
  latency: HaLatency[];
  failover: FailoverFigures[];
}

/** A hung call counts as failed after this long (the control plane's own store timeouts are shorter). */
const CALL_TIMEOUT_MS = 10_000;
/** A failover that has not produced a successful rotation by then is reported as Infinity. */
const FAILOVER_BOUND_MS = 60_000;

async function rotateWithin(cp: ControlPlaneProcess): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CALL_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      cp.rotate({ generate: true }).then(
        (answer) => answer.success,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const sentinelEnv = (setup: SentinelSetup, minReplicas: number) => ({
  VALKEY_SENTINELS: setup.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
  VALKEY_SENTINEL_MASTER: SENTINEL_MASTER,
  VALKEY_MIN_REPLICAS: String(minReplicas),
});

const clusterEnv = (cluster: ValkeyClusterSetup, minReplicas: number) => ({
  VALKEY_CLUSTER_NODES: cluster.seeds.map(({ host, port }) => `${host}:${port}`).join(','),
  VALKEY_MIN_REPLICAS: String(minReplicas),
});

/** The port of the primary serving the keyset's hash slot, as the node on `askPort` sees it (NaN: no answer). */
async function slotOwner(askPort: number): Promise<number> {
  const client = new Valkey({
    port: askPort,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', CLUSTER_KEYS.state));
    const slots = (await client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    const range = slots.find(([low, high]) => low <= slot && slot <= high);
    return Number(range?.[2]?.[1]);
  } catch {
    return Number.NaN;
  } finally {
    client.disconnect();
  }
}

/**
 * Rotations in a loop on `cp` (each awaited, a failed one retried after 10 ms); kills the primary with `kill`
 * after five warm-up rotations, and returns once the first rotation started after the kill succeeded (or after
 * FAILOVER_BOUND_MS); `promoted` resolves when the set-up has promoted a replica.
 */
async function timeFailover(
  cp: ControlPlaneProcess,
  kill: () => Promise<void>,
  promoted: () => Promise<void>,
): Promise<{ promotedMs: number; firstRotationMs: number; failedCalls: number }> {
  for (let i = 0; i < 5; i++) await rotateWithin(cp);
  let killedAt = Number.NaN;
  let promotedMs = Number.NaN;
  const killing = (async () => {
    const before = performance.now();
    await kill();
    // kill() resolves once the process exited; the signal went out at `before`.
    killedAt = before;
    await promoted();
    promotedMs = performance.now() - killedAt;
  })();
  let failedCalls = 0;
  let firstRotationMs = Number.POSITIVE_INFINITY;
  const start = performance.now();
  while (performance.now() - start < FAILOVER_BOUND_MS) {
    const startedAt = performance.now();
    const ok = await rotateWithin(cp);
    if (Number.isNaN(killedAt) || startedAt < killedAt) continue;
    if (ok) {
      firstRotationMs = performance.now() - killedAt;
      break;
    }
    failedCalls++;
    await sleep(10);
  }
  await killing.catch(() => {});
  return { promotedMs, firstRotationMs, failedCalls };
}

export async function measureValkeyHa(options: {
  /** RotateSecret calls per set-up, interleaved across them. */
  calls: number;
  failoverRounds: number;
  log: (line: string) => void;
}): Promise<HaBench> {
  // As in the rotation case: a zero grace period keeps the keyset at one key over hundreds of rotations.
  const gracePeriod = '0s';
  const keysetKey = randomBytes(32).toString('base64url');
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  };
  const controlPlane = async (env: Record<string, string>, valkeyUrl?: string) => {
    const cp = await startControlPlaneProcess({ valkeyUrl, keysetKey, edgeUrls: [], gracePeriod, env });
    stops.push(() => cp.stop());
    return cp;
  };

  const latency: HaLatency[] = [];
  const failover: FailoverFigures[] = [];
  try {
    // Every set-up up at once, the calls interleaved (one to each in turn, in rotating order) so that the machine's load, shared by
    // other processes, weighs on each set-up alike.
    const standalone: ValkeyServer = await startValkey();
    stops.push(() => standalone.stop());
    const sentinel = await startSentinelSetup();
    stops.push(() => sentinel.stop());
    const cluster = await startValkeyCluster(1);
    stops.push(() => cluster.stop());
    options.log(
      '  valkey standalone, Sentinel (primary, 2 replicas, 1 sentinel), Cluster (3 primaries, 3 replicas) up',
    );
    const setUps: Array<{ name: string; description: string; minReplicas: number; cp: ControlPlaneProcess }> =
      [
        {
          name: 'standalone',
          description: 'one valkey-server (VALKEY_URL)',
          minReplicas: 0,
          cp: await controlPlane({}, standalone.url),
        },
        {
          name: 'sentinel',
          description: 'Sentinel, primary + 2 replicas, VALKEY_MIN_REPLICAS=0',
          minReplicas: 0,
          cp: await controlPlane(sentinelEnv(sentinel, 0)),
        },
        {
          name: 'sentinel+wait1',
          description: 'Sentinel, primary + 2 replicas, VALKEY_MIN_REPLICAS=1 (WAIT 1)',
          minReplicas: 1,
          cp: await controlPlane(sentinelEnv(sentinel, 1)),
        },
        {
          name: 'cluster',
          description: 'Cluster, 3 primaries + 1 replica each, VALKEY_MIN_REPLICAS=0',
          minReplicas: 0,
          cp: await controlPlane(clusterEnv(cluster, 0)),
        },
        {
          name: 'cluster+wait1',
          description: 'Cluster, 3 primaries + 1 replica each, VALKEY_MIN_REPLICAS=1 (WAIT 1)',
          minReplicas: 1,
          cp: await controlPlane(clusterEnv(cluster, 1)),
        },
      ];
    const samples = setUps.map(() => [] as number[]);
    for (let i = -10; i < options.calls; i++) {
      // Each round starts with the next set-up, so that none is always first after the pause between rounds.
      for (let k = 0; k < setUps.length; k++) {
        const index = (k + i + 10) % setUps.length;
        const setUp = setUps[index] as (typeof setUps)[number];
        const start = performance.now();
        const answer = await setUp.cp.rotate({ generate: true });
        const elapsed = performance.now() - start;
        if (!answer.success) throw new Error(`${setUp.name}: RotateSecret did not succeed`);
        if (i >= 0) samples[index]?.push(elapsed);
      }
    }
    const standaloneSamples = samples[0] as number[];
    for (const [index, setUp] of setUps.entries()) {
      const own = samples[index] as number[];
      const f = figures(own);
      const added = quantile(
        own.map((sample, round) => sample - (standaloneSamples[round] as number)),
        0.5,
      );
      latency.push({
        name: setUp.name,
        description: setUp.description,
        minReplicas: setUp.minReplicas,
        rotateSecret: f,
        addedOverStandaloneMs: added,
      });
      options.log(
        `  ${setUp.name}: RotateSecret p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms, ` +
          `adds ${added.toFixed(2)} ms over standalone (median of paired differences)`,
      );
    }
    await stopAll();

    const sentinelRounds: FailoverFigures = {
      setUp: 'sentinel',
      detection: 'down-after-milliseconds 1000, failover-timeout 2000, quorum 1 (one Sentinel)',
      rounds: options.failoverRounds,
      promotedMs: [],
      firstRotationMs: [],
      failedCalls: [],
    };
    for (let round = 0; round < options.failoverRounds; round++) {
      const setup = await startSentinelSetup();
      stops.push(() => setup.stop());
      const cp = await controlPlane(sentinelEnv(setup, 1));
      const ports = setup.replicas.map((replica) => replica.port);
      const result = await timeFailover(
        cp,
        () => setup.primary.kill('SIGKILL'),
        () =>
          waitUntil(
            'the Sentinel named a replica primary',
            async () => ports.includes(await setup.primaryPort()),
            FAILOVER_BOUND_MS,
          ),
      );
      await stopAll();
      recordRound(sentinelRounds, 'Sentinel', round, result, options.log);
    }
    failover.push(sentinelRounds);

    const clusterRounds: FailoverFigures = {
      setUp: 'cluster',
      detection: 'cluster-node-timeout 1000',
      rounds: options.failoverRounds,
      promotedMs: [],
      firstRotationMs: [],
      failedCalls: [],
    };
    for (let round = 0; round < options.failoverRounds; round++) {
      const setup = await startValkeyCluster(1);
      stops.push(() => setup.stop());
      const owner = await slotOwner(setup.nodes[0]?.port as number);
      if (!Number.isFinite(owner)) throw new Error('the cluster named no owner of the keyset slot');
      // A second replica: after the failover the new primary still has one to confirm writes.
      await setup.addReplica(owner);
      const cp = await controlPlane(clusterEnv(setup, 1));
      const node = setup.nodes.find((n) => n.port === owner) as ValkeyServer;
      const witness = setup.nodes.find((n) => n.port !== owner) as ValkeyServer;
      const result = await timeFailover(
        cp,
        () => node.kill('SIGKILL'),
        () =>
          waitUntil(
            'a replica owns the keyset slot',
            async () => {
              const now = await slotOwner(witness.port);
              return Number.isFinite(now) && now !== owner;
            },
            FAILOVER_BOUND_MS,
          ),
      );
      await stopAll();
      recordRound(clusterRounds, 'Cluster', round, result, options.log);
    }
    failover.push(clusterRounds);
    return { valkeyVersion: valkeyVersion(), gracePeriod, latency, failover };
  } finally {
    await stopAll();
  }
}

/** Adds one failover round's figures to `rounds` and logs them. */
function recordRound(
  rounds: FailoverFigures,
  label: string,
  round: number,
  result: { promotedMs: number; firstRotationMs: number; failedCalls: number },
  log: (line: string) => void,
): void {
  rounds.promotedMs.push(result.promotedMs);
  rounds.firstRotationMs.push(result.firstRotationMs);
  rounds.failedCalls.push(result.failedCalls);
  log(
    `  ${label} failover ${round + 1}: promoted after ${result.promotedMs.toFixed(0)} ms, ` +
      `first rotation after ${result.firstRotationMs.toFixed(0)} ms (${result.failedCalls} failed calls)`,
  );
}
