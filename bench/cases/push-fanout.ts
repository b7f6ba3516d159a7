/**
 * The push at scale: a control plane process (`control-plane/src/main.ts`, Valkey storage) with EDGE_URLS naming
 * 1,000 lightweight edges (listener-farm.ts: one process, one loopback listener per edge), RotateSecret called
 * `rotations` times. Measured: the time from the call until the last edge answered its push, each edge's time
 * from the call, RotateSecret's own duration, and what the edges cost the control plane: RSS idle with 0 and with
 * 1,000 edges, the peak under rotations, and CPU time per edge pushed (CPU per rotation with 1,000 edges less
 * CPU per rotation with none, over 1,000).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_PUSH_BUDGET_MS,
  DEFAULT_PUSH_CONCURRENCY,
} from '../../control-plane/src/push/edge-pusher.ts';
import {
  type ControlPlaneProcess,
  startControlPlaneProcess,
} from '../../test/support/control-plane-process.ts';
import { cpuMs, rssBytes, sampleRss } from '../../test/support/process-stats.ts';
import { quantile } from '../../test/support/stats.ts';
import { startValkey } from '../../test/support/valkey-server.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { figures, type LatencyFigures } from './rotation.ts';

export interface PushFanoutBench {
  edges: number;
  rotations: number;
  concurrency: number;
  budgetMs: number;
  /** RotateSecret's round trip with every edge in EDGE_URLS (it answers once each confirmed, or at the budget). */
  rotateSecret: LatencyFigures;
  /** From the call until the last edge answered its push, one sample per rotation. */
  lastEdgeAnswered: LatencyFigures;
  /** From the call until each edge answered, every edge of every rotation. */
  perEdge: LatencyFigures;
  /** Edges the answers reported not confirmed, over all rotations. */
  notConfirmed: number;
  controlPlaneRssBytes: { idleNoEdges: number; idleWithEdges: number; peakWithEdges: number };
  /** (idle RSS with the edges - without) / edges: state and a kept-alive connection per edge. */
  rssPerEdgeBytes: number;
  /** Control plane CPU per edge pushed, in µs: the rotation's own CPU (measured without edges) taken out. */
  cpuPerEdgeUs: number;
  /** CPU per rotation without edges and with them, in ms. */
  cpuPerRotationMs: { noEdges: number; withEdges: number };
}

const FARM = fileURLToPath(new URL('../support/listener-farm.ts', import.meta.url));

/** The farm's next message of the given shape. */
function nextMessage<T>(farm: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (!(key in message)) return;
      farm.off('message', onMessage);
      farm.off('exit', onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => reject(new Error(`listener farm exited (${code})`));
    farm.on('message', onMessage);
    farm.once('exit', onExit);
  });
}

/** CPU ms the control plane spends per RotateSecret, over `calls` calls. */
async function cpuPerRotation(controlPlane: ControlPlaneProcess, calls: number): Promise<number> {
  const before = cpuMs(controlPlane.process.child.pid);
  for (let i = 0; i < calls; i++) await controlPlane.rotate({ generate: true });
  return (cpuMs(controlPlane.process.child.pid) - before) / calls;
}

export async function measurePushFanout(options: {
  edges: number;
  rotations: number;
  log: (line: string) => void;
}): Promise<PushFanoutBench> {
  const { edges, rotations } = options;
  const keysetKey = randomBytes(32).toString('base64url');
  const valkey = await startValkey();
  const farm = fork(FARM, [String(edges)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let controlPlane: ControlPlaneProcess | undefined;
  const now = () => performance.timeOrigin + performance.now();
  try {
    const { urls } = await nextMessage<{ urls: string[] }>(farm, 'urls');
    options.log(`  ${urls.length} listeners up`);
    // A zero grace period keeps the keyset at one key: every push carries the same size of envelope.
    const common = { valkeyUrl: valkey.url, keysetKey, gracePeriod: '0s' };

    controlPlane = await startControlPlaneProcess({ ...common, edgeUrls: [] });
    await sleep(1_000);
    const idleNoEdges = rssBytes(controlPlane.process.child.pid);
    await cpuPerRotation(controlPlane, 5);
    const cpuNoEdges = await cpuPerRotation(controlPlane, rotations);
    await controlPlane.stop();
    controlPlane = undefined;

    controlPlane = await startControlPlaneProcess({ ...common, edgeUrls: urls });
    // The push at start reaches every edge and leaves a connection to each; then idle.
    await sleep(2_000);
    const idleWithEdges = rssBytes(controlPlane.process.child.pid);
    const sampler = sampleRss(controlPlane.process.child.pid);
    const rotate: number[] = [];
    const last: number[] = [];
    const perEdge: number[] = [];
    let notConfirmed = 0;
    /** Each listener's last answer since the previous take (0: none). */
    const take = async () => {
      const reply = nextMessage<{ answeredAt: number[] }>(farm, 'answeredAt');
      farm.send({ take: true });
      return (await reply).answeredAt;
    };
    const cpuBefore = cpuMs(controlPlane.process.child.pid);
    // Two unrecorded rotations first: code paths warm.
    for (let i = -2; i < rotations; i++) {
      await take();
      const start = now();
      const answer = await controlPlane.rotate({ generate: true });
      const returned = now();
      const answeredAt = await take();
      if (i < 0) continue;
      notConfirmed += answer.edges.filter((edge) => !edge.confirmed).length;
      rotate.push(returned - start);
      const times = answeredAt.filter((at) => at >= start).map((at) => at - start);
      perEdge.push(...times);
      last.push(times.length === edges ? Math.max(...times) : Number.POSITIVE_INFINITY);
      // Rotations a quarter of a second apart: well inside the edges' 5 s keep-alive.
      await sleep(250);
    }
    const cpuWithEdges = (cpuMs(controlPlane.process.child.pid) - cpuBefore) / (rotations + 2);
    const peakWithEdges = sampler.stop();
    options.log(
      `  ${edges} edges: the last answered ${quantile(last, 0.5).toFixed(1)} ms after the call (median of ${rotations})`,
    );
    return {
      edges,
      rotations,
      concurrency: DEFAULT_PUSH_CONCURRENCY,
      budgetMs: DEFAULT_PUSH_BUDGET_MS,
      rotateSecret: figures(rotate),
      lastEdgeAnswered: figures(last),
      perEdge: figures(perEdge),
      notConfirmed,
      controlPlaneRssBytes: { idleNoEdges, idleWithEdges, peakWithEdges },
      rssPerEdgeBytes: (idleWithEdges - idleNoEdges) / edges,
      cpuPerEdgeUs: ((cpuWithEdges - cpuNoEdges) * 1000) / edges,
      cpuPerRotationMs: { noEdges: cpuNoEdges, withEdges: cpuWithEdges },
    };
  } finally {
    await controlPlane?.stop();
    farm.disconnect();
    await valkey.stop();
  }
}
