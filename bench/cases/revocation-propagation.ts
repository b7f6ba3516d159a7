/**
 * RevokeTokens against a real valkey-server, with the control plane as its own process (`control-plane/src/main.ts`)
 * and 20 Node edge processes: the call's latency with no edges and with 20 (it answers after the push round), the
 * time until every edge refuses the revoked token (401 token_revoked), the bytes of the delta document an
 * up-to-date edge receives, and the same at 100,000 live revocations: the call's latency (each call signs and
 * stores its own delta; the snapshot is rewritten only once the deltas add up), the snapshot's size, the time a
 * fresh edge takes to hold it, and the control plane's RSS; and the call with the edges against its fan-out floor
 * (bench/support/fan-out-floor.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
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
import { figures, type LatencyFigures } from './rotation.ts';

export interface RevocationPropagation {
  edges: number;
  calls: number;
  /** Live revocations held when the calls ran (before the first of them). */
  liveBefore: number;
  /** RevokeTokens with one UUID jti; it answers after the push round, with each edge's confirmation. */
  revokeTokens: LatencyFigures;
  /**
   * From the RevokeTokens call until every edge refuses the token (401 token_revoked). When every edge
   * confirmed and the first probe of each right after the answer refused, the figure is the call's own duration
   * (an upper bound); otherwise it runs until the last edge's first refusal.
   */
  refusedAfterCall: LatencyFigures;
  /** From the answer until the last edge's first refusal: mostly the probe's own round trip. */
  refusedAfterReturn: LatencyFigures;
  /** The same probe of every edge just before the call, with the token still valid (200). */
  probeRoundTripNoChange: LatencyFigures;
  /** Calls after which some edge had not confirmed, or verified the token at the first probe after the answer. */
  notRefusedAtReturn: number;
  /** Calls after which some edge still verified the token 2 s after the answer. */
  notRefusedWithin2s: number;
}

export interface FreshEdgeFigures {
  rounds: number;
  /** From spawning a Node edge with KEYSET_URL until it first verifies a live token (keyset pulled). */
  verifies: LatencyFigures;
  /** From spawning it until it first refuses a revoked jti (revocation snapshot pulled); NaN with no list. */
  refuses: LatencyFigures;
  /** Answers of 200 to the revoked token before the first refusal, over all rounds: the keyset came first. */
  validBeforeRefusal: number;
}

export interface RevocationBench {
  valkeyVersion: string;
  /** RevokeTokens with one UUID jti and no EDGE_URLS: the storage write and signing alone. */
  revokeNoEdges: LatencyFigures;
  /** With the most edges, few live revocations. */
  propagation: RevocationPropagation;
  /** RevokeTokens of one jti with the edges against its fan-out floor, few live revocations. */
  fanOutFloor: FanOutFloor;
  /** RevokeTokens with 1,000 UUID jtis, with the edges. */
  revoke1000With20Edges: LatencyFigures;
  bytes: {
    /** The delta an up-to-date edge receives for one call with one UUID jti (GET /revocations?since=serial-1). */
    oneJtiDelta: number;
    /** The same for one call with 1,000 UUID jtis. */
    thousandJtiDelta: number;
    /** thousandJtiDelta / 1000. */
    perJtiIn1000: number;
  };
  scale: {
    /**
     * Live revocations when the snapshot was taken: the `batches` x `batchSize` of the scale calls plus the
     * earlier calls' (the no-edges calls at scale add a few more, left out).
     */
    live: number;
    batches: number;
    batchSize: number;
    /** Each of the `batches` calls of `batchSize` UUID jtis, with the edges. */
    revokeBatchWithEdges: LatencyFigures;
    /** One more UUID jti at `live`, with the edges, and until every edge refuses it. */
    propagation: RevocationPropagation;
    /** One more UUID jti at `live`, from a second control plane process on the same storage with no edges. */
    revokeNoEdges: LatencyFigures;
    /** GET /revocations?since=0 body: what a fresh or restarted edge pulls (and is pushed). */
    snapshotBytes: number;
    /**
     * The last snapshot the control plane wrote during the scale calls (after answering one of the large calls),
     * from its log line: the fold's duration (sign and Valkey write, beside that call's push round) and the
     * snapshot's bytes; undefined if none.
     */
    lastFold: { durationMs: number; bytes: number } | undefined;
    /** A fresh Node edge with KEYSET_URL: with no revocations, and with `live`. */
    freshEdgeNoRevocations: FreshEdgeFigures;
    freshEdgeAtScale: FreshEdgeFigures;
  };
  controlPlaneRssBytes: {
    /** With the edges attached, the keyset pushed, no revocation yet (after a pause). */
    noRevocations: number;
    /** The same process after the scale calls (after a pause). */
    atScale: number;
    /** The peak while the scale calls ran. */
    peakDuringScale: number;
  };
  /**
   * V8's heap in use at the same two moments (`nodejs_heap_size_used_bytes` of the control plane's GET /metrics):
   * what it holds, where RSS also counts memory the collector freed but the process has not returned.
   */
  controlPlaneHeapUsedBytes: { noRevocations: number; atScale: number };
}

const uuids = (count: number): string[] => Array.from({ length: count }, () => randomUUID());

/** `nodejs_heap_size_used_bytes` from the control plane's GET /metrics, NaN when absent. */
async function heapUsedBytes(controlPlane: ControlPlaneProcess): Promise<number> {
  const text = await (await fetch(`${controlPlane.httpUrl}/metrics`)).text();
  const match = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

/** GET /verify of `token` at `url`: the status and the error code, if any. */
async function probe(url: string, token: string): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${url}/verify`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: response.status, error };
}

const refused = (answer: { status: number; error?: string }) =>
  answer.status === 401 && answer.error === 'token_revoked';

/**
 * The time (performance.now) at which `url` first answered as `wanted` says (Infinity if never before
 * `deadline`), and whether the first probe did.
 */
async function answeredAt(
  url: string,
  token: string,
  wanted: (answer: { status: number; error?: string }) => boolean,
  deadline: number,
): Promise<{ at: number; first: boolean }> {
  for (let n = 0; performance.now() < deadline; n++) {
    if (wanted(await probe(url, token))) return { at: performance.now(), first: n === 0 };
    await sleep(1);
  }
  return { at: Number.POSITIVE_INFINITY, first: false };
}

/**
 * `calls` RevokeTokens of one fresh UUID jti each (two unrecorded first): before each, every edge must verify
 * the token (the probe's round trip, and the edge's verified-token cache then holds it); after, the time until
 * every edge refuses it.
 */
async function measurePropagation(
  controlPlane: ControlPlaneProcess,
  edges: EdgeProcess[],
  secret: string,
  kid: string,
  calls: number,
  liveBefore: number,
): Promise<RevocationPropagation> {
  const revoke: number[] = [];
  const afterReturn: number[] = [];
  const afterCall: number[] = [];
  const probeOnly: number[] = [];
  let notAtReturn = 0;
  let missed = 0;
  for (let i = -2; i < calls; i++) {
    const jti = randomUUID();
    const token = signToken(secret, kid, { ...benchClaims(Date.now()), jti });
    const before = performance.now();
    const valid = await Promise.all(
      edges.map((edge) => answeredAt(edge.url, token, (a) => a.status === 200, before + 2_000)),
    );
    const validBy = Math.max(...valid.map((v) => v.at));
    if (!Number.isFinite(validBy)) throw new Error('an edge did not verify a fresh token within 2 s');
    // The same pause as after a call: the call starts from idle edges, not from the probe's wake.
    await sleep(20);
    const start = performance.now();
    const answer = await controlPlane.revokeTokens([jti]);
    const returned = performance.now();
    const seen = await Promise.all(
      edges.map((edge) => answeredAt(edge.url, token, refused, returned + 2_000)),
    );
    const last = Math.max(...seen.map((s) => s.at));
    if (i < 0) continue;
    const allConfirmed = answer.edges.length === edges.length && answer.edges.every((edge) => edge.confirmed);
    const atReturn = allConfirmed && seen.every((s) => s.first);
    if (!atReturn) notAtReturn++;
    if (!Number.isFinite(last)) missed++;
    probeOnly.push(validBy - before);
    revoke.push(returned - start);
    afterReturn.push(last - returned);
    afterCall.push(atReturn ? returned - start : last - start);
    await sleep(20);
  }
  const finite = (values: number[]) => values.filter(Number.isFinite);
  return {
    edges: edges.length,
    calls,
    liveBefore,
    revokeTokens: figures(revoke),
    refusedAfterCall: figures(finite(afterCall)),
    refusedAfterReturn: figures(finite(afterReturn)),
    probeRoundTripNoChange: figures(probeOnly),
    notRefusedAtReturn: notAtReturn,
    notRefusedWithin2s: missed,
  };
}

/** `calls` timed RevokeTokens of `jtisPerCall` fresh UUID jtis each (`firstJti` the first of the first call). */
async function timeRevokes(
  controlPlane: ControlPlaneProcess,
  calls: number,
  jtisPerCall: number,
  firstJti?: string,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const jtis = uuids(jtisPerCall);
    if (i === 0 && firstJti !== undefined) jtis[0] = firstJti;
    const start = performance.now();
    const answer = await controlPlane.revokeTokens(jtis);
    samples.push(performance.now() - start);
    if (!answer.success) throw new Error(`RevokeTokens failed: ${answer.message}`);
  }
  return samples;
}

/** The body of GET /revocations?since=`since` at the control plane, in bytes. */
async function documentBytes(controlPlane: ControlPlaneProcess, since: number): Promise<number> {
  const response = await fetch(`${controlPlane.httpUrl}/revocations?since=${since}`);
  const body = await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET /revocations?since=${since} answered ${response.status}`);
  return body.byteLength;
}

/**
 * Spawns a Node edge that nobody pushes to, with KEYSET_URL at the control plane, `rounds` times (one at a time):
 * the time from the spawn until it first verifies `live` and first refuses `revoked` (when given).
 */
async function measureFreshEdge(
  controlPlane: ControlPlaneProcess,
  keysetKey: string,
  rounds: number,
  live: string,
  revoked: string | undefined,
): Promise<FreshEdgeFigures> {
  const verifies: number[] = [];
  const refuses: number[] = [];
  let validBeforeRefusal = 0;
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    const edge = await startNodeEdge({ keysetKey, keysetUrl: controlPlane.keysetUrl });
    try {
      let verifiedAt = Number.NaN;
      let refusedAt = revoked === undefined ? Number.NaN : Number.POSITIVE_INFINITY;
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline) {
        if (Number.isNaN(verifiedAt) && (await probe(edge.url, live)).status === 200) {
          verifiedAt = performance.now();
        }
        if (revoked !== undefined && refusedAt === Number.POSITIVE_INFINITY) {
          const answer = await probe(edge.url, revoked);
          if (refused(answer)) refusedAt = performance.now();
          else if (answer.status === 200) validBeforeRefusal++;
        }
        if (!Number.isNaN(verifiedAt) && refusedAt !== Number.POSITIVE_INFINITY) break;
        await sleep(2);
      }
      if (Number.isNaN(verifiedAt) || refusedAt === Number.POSITIVE_INFINITY) {
        throw new Error(
          `a fresh edge did not take the keyset and the revocations within 60 s:\n${edge.process.output()}`,
        );
      }
      verifies.push(verifiedAt - start);
      refuses.push(refusedAt - start);
    } finally {
      await edge.stop();
    }
  }
  return { rounds, verifies: figures(verifies), refuses: figures(refuses), validBeforeRefusal };
}

/**
 * RevokeTokens of one UUID jti `calls` times (five unrecorded first) from a control plane with no EDGE_URLS, on a
 * valkey-server of its own (the list it leaves behind is not the one the edges will hold).
 */
async function measureNoEdges(keysetKey: string, calls: number): Promise<LatencyFigures> {
  const valkey = await startValkey();
  let controlPlane: ControlPlaneProcess | undefined;
  try {
    controlPlane = await startControlPlaneProcess({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [],
      gracePeriod: '1h',
    });
    await timeRevokes(controlPlane, 5, 1);
    return figures(await timeRevokes(controlPlane, calls, 1));
  } finally {
    await controlPlane?.stop();
    await valkey.stop();
  }
}

/**
 * RevokeTokens of one jti with the edges, against its floor (bench/support/fan-out-floor.ts): the same call on a
 * control plane with no edges and a valkey-server of its own, and a one-jti delta sent to as many bare servers.
 */
async function measureRevocationFloor(
  controlPlane: ControlPlaneProcess,
  edges: EdgeProcess[],
  keysetKey: string,
  rounds: number,
): Promise<FanOutFloor> {
  const valkey = await startValkey();
  try {
    const noEdges = await startControlPlaneProcess({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [],
      gracePeriod: '1h',
    });
    try {
      // A one-jti delta of the size the call pushes: the batch above a serial just below the call's (serials are
      // times in ms, so this is not the serial before it, and `from` differs; the bytes are the same).
      const sample = await controlPlane.revokeTokens([randomUUID()]);
      const since = Number(sample.version) - 1;
      const answer = await fetch(`${controlPlane.httpUrl}/revocations?since=${since}`);
      if (answer.status !== 200) throw new Error(`GET /revocations?since=${since} answered ${answer.status}`);
      return await measureFanOutFloor({
        controlPlane,
        call: {
          name: 'RevokeTokens',
          withEdges: () => controlPlane.revokeTokens([randomUUID()]),
          noEdges: () => noEdges.revokeTokens([randomUUID()]),
          path: '/revocations',
          document: await answer.text(),
        },
        edgePids: edges.map((edge) => edge.process.child.pid as number),
        rounds,
      });
    } finally {
      await noEdges.stop();
    }
  } finally {
    await valkey.stop();
  }
}

/** See the file's comment. */
export async function measureRevocation(options: {
  edges: number;
  /** RevokeTokens calls timed with no edges. */
  latencyCalls: number;
  /** Calls timed with the edges (and at scale). */
  propagationCalls: number;
  /** Scale: `batches` calls of `batchSize` UUID jtis. */
  batches: number;
  batchSize: number;
  freshEdgeRounds: number;
  /** Rounds of the interleaved fan-out floor. */
  fanOutRounds: number;
  log: (line: string) => void;
}): Promise<RevocationBench> {
  const keysetKey = randomBytes(32).toString('base64url');
  const secret = newSecret();
  const kid = await computeKid(secret);
  const valkey = await startValkey();
  const edges: EdgeProcess[] = [];
  const logFiles = edgeLogFiles('revocation');
  let controlPlane: ControlPlaneProcess | undefined;
  let spare: ControlPlaneProcess | undefined;
  try {
    const revokeNoEdges = await measureNoEdges(keysetKey, options.latencyCalls);
    options.log(`  RevokeTokens (1 jti), no edges: p50 ${revokeNoEdges.p50Ms.toFixed(2)} ms`);

    // A few at a time: twenty Node start-ups at once on two cores would only time out.
    for (let i = 0; i < options.edges; i += 4) {
      const batch = [];
      for (let j = i; j < Math.min(options.edges, i + 4); j++) {
        batch.push(startNodeEdge({ keysetKey, outputFile: logFiles.next() }));
      }
      edges.push(...(await Promise.all(batch)));
    }
    options.log(`  ${edges.length} node edges up`);
    controlPlane = await startControlPlaneProcess({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: edges.map((edge) => edge.url),
      gracePeriod: '1h',
    });
    const rotated = await controlPlane.rotate({ new_secret: secret });
    if (!rotated.edges.every((edge) => edge.confirmed)) throw new Error('an edge did not take the keyset');
    const liveToken = signToken(secret, kid, { ...benchClaims(Date.now()), jti: randomUUID() });
    const freshEdgeNoRevocations = await measureFreshEdge(
      controlPlane,
      keysetKey,
      options.freshEdgeRounds,
      liveToken,
      undefined,
    );
    await sleep(1_000);
    const noRevocations = rssBytes(controlPlane.process.child.pid);
    const heapNoRevocations = await heapUsedBytes(controlPlane);

    const propagation = await measurePropagation(
      controlPlane,
      edges,
      secret,
      kid,
      options.propagationCalls,
      0,
    );
    let live = propagation.calls + 2;
    options.log(
      `  ${edges.length} edges: every edge refusing, from the call: median ${propagation.refusedAfterCall.p50Ms.toFixed(2)} ms`,
    );

    const fanOutFloor = await measureRevocationFloor(controlPlane, edges, keysetKey, options.fanOutRounds);
    // Its calls: one for the document, three unrecorded rounds and the recorded ones, one jti each.
    live += 1 + 3 + options.fanOutRounds;
    options.log(fanOutFloorLine(fanOutFloor));

    const one = await controlPlane.revokeTokens([randomUUID()]);
    const oneJtiDelta = await documentBytes(controlPlane, Number(one.version) - 1);
    const thousand: number[] = [];
    let thousandJtiDelta = Number.NaN;
    for (let i = 0; i < 5; i++) {
      const jtis = uuids(1_000);
      const start = performance.now();
      const answer = await controlPlane.revokeTokens(jtis);
      thousand.push(performance.now() - start);
      thousandJtiDelta = await documentBytes(controlPlane, Number(answer.version) - 1);
    }
    live += 1 + 5 * 1_000;

    const sampler = sampleRss(controlPlane.process.child.pid);
    const revokedJti = randomUUID();
    const batch = await timeRevokes(controlPlane, options.batches, options.batchSize, revokedJti);
    live += options.batches * options.batchSize;
    options.log(
      `  ${options.batches} x ${options.batchSize} jtis: RevokeTokens p50 ${quantile(batch, 0.5).toFixed(1)} ms`,
    );
    const atScale = await measurePropagation(
      controlPlane,
      edges,
      secret,
      kid,
      options.propagationCalls,
      live,
    );
    live += atScale.calls + 2;
    const peakDuringScale = sampler.stop();
    const lastFold = foldsLogged(controlPlane.process.output()).at(-1);
    options.log(
      `  at ${live} live: RevokeTokens (1 jti) p50 ${atScale.revokeTokens.p50Ms.toFixed(1)} ms, every edge refusing p50 ${atScale.refusedAfterCall.p50Ms.toFixed(1)} ms`,
    );
    await sleep(1_000);
    const atScaleRss = rssBytes(controlPlane.process.child.pid);
    const heapAtScale = await heapUsedBytes(controlPlane);
    const snapshotBytes = await documentBytes(controlPlane, 0);

    // A second process on the same storage, without edges: the call's own work at this size, no push round.
    spare = await startControlPlaneProcess({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [],
      gracePeriod: '1h',
    });
    const spareSamples = await timeRevokes(spare, options.propagationCalls + 2, 1);
    // Its few jtis are left out of `live`: it stays the count the snapshot and the propagation calls saw.
    const revokeAtScaleNoEdges = figures(spareSamples.slice(2));
    await spare.stop();
    spare = undefined;

    const revokedToken = signToken(secret, kid, { ...benchClaims(Date.now()), jti: revokedJti });
    const freshEdgeAtScale = await measureFreshEdge(
      controlPlane,
      keysetKey,
      options.freshEdgeRounds,
      liveToken,
      revokedToken,
    );
    options.log(
      `  snapshot ${snapshotBytes} B; a fresh edge refuses after p50 ${freshEdgeAtScale.refuses.p50Ms.toFixed(0)} ms ` +
        `(verifies after ${freshEdgeNoRevocations.verifies.p50Ms.toFixed(0)} ms with no revocations)`,
    );

    return {
      valkeyVersion: valkeyVersion(),
      revokeNoEdges,
      propagation,
      fanOutFloor,
      revoke1000With20Edges: figures(thousand),
      bytes: { oneJtiDelta, thousandJtiDelta, perJtiIn1000: thousandJtiDelta / 1_000 },
      scale: {
        live,
        batches: options.batches,
        batchSize: options.batchSize,
        revokeBatchWithEdges: figures(batch),
        propagation: atScale,
        revokeNoEdges: revokeAtScaleNoEdges,
        snapshotBytes,
        lastFold,
        freshEdgeNoRevocations,
        freshEdgeAtScale,
      },
      controlPlaneRssBytes: { noRevocations, atScale: atScaleRss, peakDuringScale },
      controlPlaneHeapUsedBytes: { noRevocations: heapNoRevocations, atScale: heapAtScale },
    };
  } finally {
    await spare?.stop();
    await controlPlane?.stop();
    await Promise.all(edges.map((edge) => edge.stop()));
    logFiles.remove();
    await valkey.stop();
  }
}

/** The control plane's `revocation deltas folded into a snapshot` log lines, oldest first. */
function foldsLogged(output: string): { durationMs: number; bytes: number }[] {
  const folds: { durationMs: number; bytes: number }[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('revocation deltas folded into a snapshot')) continue;
    const entry = JSON.parse(line) as { duration_ms: number; bytes: number };
    folds.push({ durationMs: entry.duration_ms, bytes: entry.bytes });
  }
  return folds;
}
