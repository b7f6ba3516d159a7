/**
 * RotateSecret latency against a real valkey-server, and the time from the call until every one of N Node edges
 * verifies a token of the new kid; then where one push's time goes (push-breakdown.ts). The control plane runs as
 * its own process (`control-plane/src/main.ts`), so its RSS is measured too. What one edge adds is the 1-edge
 * RotateSecret against a no-edge one timed alike (same call, same pauses), the two interleaved call by call.
 */
import { randomBytes } from 'node:crypto';
import { computeKid } from '../../shared/kid.ts';
import {
  type ControlPlaneProcess,
  startControlPlaneProcess,
} from '../../test/support/control-plane-process.ts';
import { type EdgeProcess, startNodeEdge } from '../../test/support/edge-processes.ts';
import { rssBytes, sampleRss } from '../../test/support/process-stats.ts';
import { newSecret, signToken } from '../../test/support/sign-token.ts';
import { quantile } from '../../test/support/stats.ts';
import { valkeyVersion } from '../../test/support/tool-versions.ts';
import { startValkey } from '../../test/support/valkey-server.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { edgeLogFiles } from '../support/edge-log-files.ts';
import { type FanOutFloor, fanOutFloorLine, measureFanOutFloor } from '../support/fan-out-floor.ts';
import { benchClaims } from '../support/fixture.ts';
import { measurePushBreakdown, type PushBreakdown } from '../support/push-breakdown.ts';

export interface LatencyFigures {
  calls: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  minMs: number;
}

export interface PropagationFigures {
  edges: number;
  rotations: number;
  /** RotateSecret round trip (it waits for the edges to confirm the push). */
  rotateSecret: LatencyFigures;
  /** From RotateSecret returning until the last of the N edges answered 200 to a token of the new kid. */
  visibleAfterReturn: LatencyFigures;
  /**
   * From the RotateSecret call until every edge verifies the new kid. RotateSecret returns once every edge has
   * confirmed the push, and an edge confirms only after it took the keyset: when every edge confirmed and the
   * first probe of each right after the return verified, the figure is RotateSecret's own duration (an upper
   * bound; the probe's round trip is no propagation); otherwise it runs until the last edge's first 200.
   */
  visibleAfterCall: LatencyFigures;
  /** Rotations in which some edge had not confirmed, or did not verify at the first probe after the return. */
  notVisibleAtReturn: number;
  /**
   * The same probe of all N edges just before each rotation, with the current (already known) kid: how much of
   * `visibleAfterReturn` is the probe's own round trip rather than propagation.
   */
  probeRoundTripNoChange: LatencyFigures;
  notVisibleWithin2s: number;
}

export interface StageFigures {
  edges: number;
  /**
   * StageKey with an EdDSA key, from the call until every edge confirmed a keyset holding it (StageKey answers
   * after the push round, with each edge's confirmation).
   */
  stageToConfirmed: LatencyFigures;
  /** Stagings after which some edge had not confirmed. */
  notConfirmed: number;
}

export interface RotationBench {
  valkeyVersion: string;
  gracePeriod: string;
  /** RotateSecret with a generated secret, no edges, calls back to back (also the RSS figure's load). */
  rotateSecretNoEdges: LatencyFigures;
  /**
   * RotateSecret with no edges timed as the edge counts are (a `new_secret` and a token made per call, 20 ms
   * between calls), interleaved call by call with the 1-edge rotations, on a control plane and a valkey-server of
   * its own: what `oneEdgeAddsMs` subtracts.
   */
  rotateSecretNoEdgesPaced: LatencyFigures;
  propagation: PropagationFigures[];
  /** StageKey to every edge confirmed, with the most edges. */
  staging: StageFigures;
  /**
   * RotateSecret's median with one edge minus its median with none (`rotateSecretNoEdgesPaced`, the same
   * protocol, interleaved): the cost of one push, in ms.
   */
  oneEdgeAddsMs: number;
  pushBreakdown: PushBreakdown;
  /** With the most edges: the rotation's CPU per process, and the same fan-out to bare servers (its floor). */
  fanOutFloor: FanOutFloor;
  /**
   * The same with one edge, after the paired rotations: the PUT to one bare server through the push transport,
   * paced alike, is the floor under `oneEdgeAddsMs`.
   */
  oneEdgeFloor: FanOutFloor;
  controlPlaneRssBytes: {
    idle: number;
    peakUnderRotations: number;
    idleWith20Edges: number;
    peakWith20Edges: number;
  };
  edgeIdleRssBytes: number[];
}

/** A latency sample's count, median, p99 and extremes: every timed case reports its calls this way. */
export function figures(samples: number[]): LatencyFigures {
  return {
    calls: samples.length,
    p50Ms: quantile(samples, 0.5),
    p99Ms: quantile(samples, 0.99),
    maxMs: Math.max(...samples),
    minMs: Math.min(...samples),
  };
}

/**
 * StageKey (EdDSA, generated) `calls` times, each then promoted (not timed) so that the next may stage: the time
 * from the call until it answered with every edge confirmed.
 */
async function measureStaging(
  controlPlane: ControlPlaneProcess,
  edges: number,
  calls: number,
): Promise<StageFigures> {
  const samples: number[] = [];
  let notConfirmed = 0;
  for (let i = -2; i < calls; i++) {
    const start = performance.now();
    const staged = await controlPlane.stage({ alg: 'EdDSA' });
    const elapsed = performance.now() - start;
    const confirmed = staged.edges.length === edges && staged.edges.every((edge) => edge.confirmed);
    await controlPlane.promote({ kid: staged.kid, force: !confirmed });
    if (i < 0) continue;
    samples.push(elapsed);
    if (!confirmed) notConfirmed++;
  }
  return { edges, stageToConfirmed: figures(samples), notConfirmed };
}

/**
 * The time (performance.now) at which `url` first verified `token` (Infinity if never before `deadline`), and
 * whether the first probe did.
 */
async function visibleAt(
  url: string,
  token: string,
  deadline: number,
): Promise<{ at: number; first: boolean }> {
  for (let probe = 0; performance.now() < deadline; probe++) {
    const response = await fetch(`${url}/verify`, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    if (response.status === 200) return { at: performance.now(), first: probe === 0 };
    await sleep(1);
  }
  return { at: Number.POSITIVE_INFINITY, first: false };
}

async function newSecretAndToken(): Promise<{ secret: string; token: string }> {
  const secret = newSecret();
  return { secret, token: signToken(secret, await computeKid(secret), benchClaims(Date.now())) };
}

/** RotateSecret alone, then with each count of edges in EDGE_URLS; see the file's comment. */
export async function measureRotation(options: {
  /** Must hold 1: the 1-edge rotations are interleaved with the paced no-edge ones. */
  edgeCounts: number[];
  latencyCalls: number;
  rotationsPerCount: number;
  /** Rotations with 1 edge, and as many paced ones without: more than the other counts, for a steadier difference. */
  pairedRotations: number;
  /** Calls per part of the push breakdown. */
  breakdownCalls: number;
  /** Rotations, and as many bare fan-outs, for the fan-out floor. */
  fanOutRounds: number;
  log: (line: string) => void;
}): Promise<RotationBench> {
  // A zero grace period keeps the keyset at one key over hundreds of rotations; with a long grace every
  // rotation would add a key and later rotations would push ever larger envelopes.
  const gracePeriod = '0s';
  const keysetKey = randomBytes(32).toString('base64url');
  const valkey = await startValkey();
  // The paced no-edge control plane's own storage: on one valkey-server each control plane would re-read the
  // other's every write (pub/sub), work neither does alone.
  const pacedValkey = await startValkey();
  const edges: EdgeProcess[] = [];
  const logFiles = edgeLogFiles('rotation');
  let controlPlane: ControlPlaneProcess | undefined;
  let noEdges: ControlPlaneProcess | undefined;
  try {
    const maxEdges = Math.max(...options.edgeCounts);
    // A few at a time: twenty Node start-ups at once on two cores would only time out.
    for (let i = 0; i < maxEdges; i += 4) {
      const batch = [];
      for (let j = i; j < Math.min(maxEdges, i + 4); j++) {
        batch.push(
          startNodeEdge({ keysetKey, env: { VERIFY_CACHE_SIZE: '0' }, outputFile: logFiles.next() }),
        );
      }
      edges.push(...(await Promise.all(batch)));
    }
    options.log(`  ${edges.length} node edges up`);

    controlPlane = await startControlPlaneProcess({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [],
      gracePeriod,
    });
    await sleep(1_000);
    const idle = rssBytes(controlPlane.process.child.pid);
    for (let i = 0; i < 10; i++) await controlPlane.rotate({ generate: true });
    const sampler = sampleRss(controlPlane.process.child.pid);
    const latencies: number[] = [];
    for (let i = 0; i < options.latencyCalls; i++) {
      const start = performance.now();
      await controlPlane.rotate({ generate: true });
      latencies.push(performance.now() - start);
    }
    const peakUnderRotations = sampler.stop();
    await controlPlane.stop();
    controlPlane = undefined;
    options.log(
      `  RotateSecret x${options.latencyCalls}, back to back: p50 ${quantile(latencies, 0.5).toFixed(2)} ms`,
    );

    const propagation: PropagationFigures[] = [];
    let staging: StageFigures = { edges: 0, stageToConfirmed: figures([Number.NaN]), notConfirmed: 0 };
    let fanOutFloor: FanOutFloor | undefined;
    let oneEdgeFloor: FanOutFloor | undefined;
    let idleWith20Edges = Number.NaN;
    let peakWith20Edges = Number.NaN;
    const paced: number[] = [];
    // The call against its fan-out floor, interleaved, on `withEdges` (pushing to `targets`) and `withoutEdges`.
    const floorOf = async (
      withEdges: ControlPlaneProcess,
      withoutEdges: ControlPlaneProcess | undefined,
      targets: EdgeProcess[],
    ) => {
      if (withoutEdges === undefined)
        throw new Error('rotation: the fan-out floor needs a control plane without edges');
      const keysetAnswer = await fetch(withEdges.keysetUrl);
      if (!keysetAnswer.ok)
        throw new Error(`fan-out floor: GET /keyset answered HTTP ${keysetAnswer.status}`);
      const floor = await measureFanOutFloor({
        controlPlane: withEdges,
        call: {
          name: 'RotateSecret',
          withEdges: () => withEdges.rotate({ new_secret: newSecret() }),
          noEdges: () => withoutEdges.rotate({ new_secret: newSecret() }),
          path: '/keyset',
          document: await keysetAnswer.text(),
        },
        edgePids: targets.map((edge) => edge.process.child.pid as number),
        rounds: options.fanOutRounds,
      });
      options.log(fanOutFloorLine(floor));
      return floor;
    };
    for (const count of options.edgeCounts) {
      const targets = edges.slice(0, count);
      const paired = count === 1;
      const rotations = paired ? options.pairedRotations : options.rotationsPerCount;
      controlPlane = await startControlPlaneProcess({
        valkeyUrl: valkey.url,
        keysetKey,
        edgeUrls: targets.map((edge) => edge.url),
        gracePeriod,
      });
      if (paired) {
        noEdges = await startControlPlaneProcess({
          valkeyUrl: pacedValkey.url,
          keysetKey,
          edgeUrls: [],
          gracePeriod,
        });
      }
      const bare = noEdges;
      // The no-edge call in the same shape as the edges' (a new_secret, its token made first, 20 ms after).
      const pacedCall = async (record: boolean) => {
        if (bare === undefined) return;
        const { secret } = await newSecretAndToken();
        const start = performance.now();
        await bare.rotate({ new_secret: secret });
        if (record) paced.push(performance.now() - start);
        await sleep(20);
      };
      await sleep(500);
      if (count === maxEdges) idleWith20Edges = rssBytes(controlPlane.process.child.pid);
      const cpSampler = sampleRss(controlPlane.process.child.pid);
      const rotate: number[] = [];
      const afterReturn: number[] = [];
      const afterCall: number[] = [];
      const probeOnly: number[] = [];
      let missed = 0;
      let notAtReturn = 0;
      let current: string | undefined;
      // Two unrecorded rotations first: connections opened, code paths warm.
      for (let i = -2; i < rotations; i++) {
        // Which of the pair goes first alternates, so that neither always follows the other.
        if (i % 2 === 0) await pacedCall(i >= 0);
        const { secret, token } = await newSecretAndToken();
        if (current !== undefined && i >= 0) {
          const before = performance.now();
          const probed = await Promise.all(
            targets.map((edge) => visibleAt(edge.url, current as string, before + 2_000)),
          );
          probeOnly.push(Math.max(...probed.map((p) => p.at)) - before);
          // The same pause as after a call: the call starts from idle edges, not from the probe's wake.
          await sleep(20);
        }
        current = token;
        const start = performance.now();
        const answer = await controlPlane.rotate({ new_secret: secret });
        const returned = performance.now();
        const seen = await Promise.all(targets.map((edge) => visibleAt(edge.url, token, returned + 2_000)));
        const last = Math.max(...seen.map((s) => s.at));
        if (i < 0) continue;
        const allConfirmed = answer.edges.length === count && answer.edges.every((edge) => edge.confirmed);
        const atReturn = allConfirmed && seen.every((s) => s.first);
        if (!atReturn) notAtReturn++;
        if (!allConfirmed || !Number.isFinite(last)) missed++;
        rotate.push(returned - start);
        afterReturn.push(last - returned);
        afterCall.push(atReturn ? returned - start : last - start);
        await sleep(20);
        if (i % 2 !== 0) await pacedCall(i >= 0);
      }
      if (count === maxEdges) staging = await measureStaging(controlPlane, count, options.rotationsPerCount);
      const peak = cpSampler.stop();
      if (paired) oneEdgeFloor = await floorOf(controlPlane, noEdges, targets);
      if (count === maxEdges) {
        peakWith20Edges = peak;
        noEdges = await startControlPlaneProcess({
          valkeyUrl: pacedValkey.url,
          keysetKey,
          edgeUrls: [],
          gracePeriod,
        });
        fanOutFloor = await floorOf(controlPlane, noEdges, targets);
      }
      await controlPlane.stop();
      controlPlane = undefined;
      await noEdges?.stop();
      noEdges = undefined;
      const finite = (values: number[]) => values.filter(Number.isFinite);
      propagation.push({
        edges: count,
        rotations,
        rotateSecret: figures(rotate),
        visibleAfterReturn: figures(finite(afterReturn)),
        visibleAfterCall: figures(finite(afterCall)),
        notVisibleAtReturn: notAtReturn,
        probeRoundTripNoChange: figures(finite(probeOnly)),
        notVisibleWithin2s: missed,
      });
      options.log(
        `  ${count} edge(s): every edge verifying, from the call: median ${quantile(finite(afterCall), 0.5).toFixed(2)} ms`,
      );
      if (paired) {
        options.log(
          `  RotateSecret, 1 edge / no edges paced alike, interleaved: medians ${quantile(rotate, 0.5).toFixed(2)} / ${quantile(paced, 0.5).toFixed(2)} ms`,
        );
      }
    }
    const pushBreakdown = await measurePushBreakdown({
      valkeyUrl: valkey.url,
      calls: options.breakdownCalls,
      keys: 4,
    });
    if (fanOutFloor === undefined) throw new Error('rotation: the fan-out floor runs with the most edges');
    if (oneEdgeFloor === undefined)
      throw new Error('rotation: the one-edge fan-out floor runs with one edge');
    const oneEdge = propagation.find((p) => p.edges === 1);
    const pacedFigures = paced.length > 0 ? figures(paced) : figures([Number.NaN]);
    return {
      valkeyVersion: valkeyVersion(),
      gracePeriod,
      rotateSecretNoEdges: figures(latencies),
      rotateSecretNoEdgesPaced: pacedFigures,
      propagation,
      staging,
      oneEdgeAddsMs: (oneEdge?.rotateSecret.p50Ms ?? Number.NaN) - pacedFigures.p50Ms,
      pushBreakdown,
      fanOutFloor,
      oneEdgeFloor,
      controlPlaneRssBytes: { idle, peakUnderRotations, idleWith20Edges, peakWith20Edges },
      edgeIdleRssBytes: edges.map((edge) => rssBytes(edge.process.child.pid)),
    };
  } finally {
    await controlPlane?.stop();
    await noEdges?.stop();
    await Promise.all(edges.map((edge) => edge.stop()));
    logFiles.remove();
    await valkey.stop();
    await pacedValkey.stop();
  }
}
