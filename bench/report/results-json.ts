/** bench/results.json: every figure of a run with its unit, the runtime versions and the machine's load. */
import { cpus } from 'node:os';
import { round, roundSummary, type Summary } from '../../test/support/stats.ts';
import type {
  FreshEdgeFigures,
  RevocationBench,
  RevocationPropagation,
} from '../cases/revocation-propagation.ts';
import type { LatencyFigures } from '../cases/rotation.ts';
import type { ColdStartFigures } from '../cases/worker-cold-start.ts';
import type { BenchFigures } from '../figures.ts';
import { FAN_OUT_PAUSE_MS, type FanOutFloor } from '../support/fan-out-floor.ts';
import type { CaseTiming } from '../support/interleaved-timing.ts';
import type { Verdict } from '../targets.ts';

export interface RunContext {
  quick: boolean;
  bunVersion: string;
  loadAtStart: number[];
  loadAtEnd: number[];
  durationS: number;
}

const withUnit = (summary: Summary, unit: string, digits = 4) => ({ unit, ...roundSummary(summary, digits) });
const bytes = (value: number) => ({ unit: 'bytes', value });

const caseJson = (cases: readonly CaseTiming[]) =>
  Object.fromEntries(
    cases.map((c) => [
      c.name,
      {
        nsPerOp: withUnit(c.nsPerOp, 'ns/op'),
        opsPerSec: { unit: 'ops/s', median: round(1e9 / c.nsPerOp.median) },
      },
    ]),
  );

const ratioJson = (entries: Record<string, Summary>) =>
  Object.fromEntries(Object.entries(entries).map(([name, s]) => [name, withUnit(s, 'ratio', 3)]));

const latencyJson = (f: LatencyFigures) => ({
  unit: 'ms',
  p50: round(f.p50Ms),
  p99: round(f.p99Ms),
  min: round(f.minMs),
  max: round(f.maxMs),
  samples: f.calls,
});

const coldStartJson = (f: ColdStartFigures) => ({
  ready: withUnit(f.readyMs, 'ms'),
  firstRequest: withUnit(f.firstRequestMs, 'ms'),
  firstAnswer: withUnit(f.firstAnswerMs, 'ms'),
});

const haJson = (ha: BenchFigures['ha']) => ({
  method:
    'RotateSecret (generate, no edges, GRACE_PERIOD 0s) on one control plane process per set-up, calls interleaved ' +
    'across the set-ups; failover: a loop of RotateSecret with VALKEY_MIN_REPLICAS=1, the primary of the keyset ' +
    'killed with SIGKILL, timed until the first call started after the kill answered success',
  gracePeriod: ha.gracePeriod,
  rotateSecret: Object.fromEntries(
    ha.latency.map((l) => [
      l.name,
      {
        setUp: l.description,
        minReplicas: l.minReplicas,
        ...latencyJson(l.rotateSecret),
        addedOverStandalone: { unit: 'ms', medianOfPairedDifferences: round(l.addedOverStandaloneMs) },
      },
    ]),
  ),
  failover: Object.fromEntries(
    ha.failover.map((f) => [
      f.setUp,
      {
        detection: f.detection,
        rounds: f.rounds,
        killToPromoted: { unit: 'ms', values: f.promotedMs.map((v) => round(v)) },
        killToFirstRotation: {
          unit: 'ms',
          values: f.firstRotationMs.map((v) => (Number.isFinite(v) ? round(v) : null)),
        },
        failedCallsBeforeIt: { unit: 'calls', values: f.failedCalls },
      },
    ]),
  ),
});

const propagationJson = (p: RevocationPropagation) => ({
  edges: p.edges,
  calls: p.calls,
  liveBefore: { unit: 'revocations', value: p.liveBefore },
  revokeTokens: latencyJson(p.revokeTokens),
  refusedAfterCall: latencyJson(p.refusedAfterCall),
  refusedAfterReturn: latencyJson(p.refusedAfterReturn),
  probeRoundTripNoChange: latencyJson(p.probeRoundTripNoChange),
  notRefusedAtReturn: { unit: 'calls', value: p.notRefusedAtReturn },
  notRefusedWithin2s: { unit: 'calls', value: p.notRefusedWithin2s },
});

const freshEdgeJson = (f: FreshEdgeFigures) => ({
  rounds: f.rounds,
  spawnToFirstVerify: latencyJson(f.verifies),
  spawnToRefusingRevoked:
    f.refuses.calls > 0 && Number.isFinite(f.refuses.p50Ms) ? latencyJson(f.refuses) : null,
  validBeforeRefusal: { unit: 'answers', value: f.validBeforeRefusal },
});

function revocationJson(r: RevocationBench): object {
  const s = r.scale;
  return {
    method:
      'control plane process, valkey-server, Node edge processes pushed to; UUID jtis; each propagation call first ' +
      'has every edge verify the token, then times RevokeTokens and probes every edge until 401 token_revoked',
    revokeNoEdges: latencyJson(r.revokeNoEdges),
    propagation: propagationJson(r.propagation),
    fanOutFloor: fanOutFloorJson(r.fanOutFloor),
    revoke1000With20Edges: latencyJson(r.revoke1000With20Edges),
    bytesPushed: {
      oneJtiDelta: bytes(r.bytes.oneJtiDelta),
      thousandJtiDelta: bytes(r.bytes.thousandJtiDelta),
      perJtiIn1000: { unit: 'bytes/jti', value: round(r.bytes.perJtiIn1000, 4) },
    },
    scale: {
      live: { unit: 'revocations', value: s.live },
      batches: s.batches,
      batchSize: { unit: 'jtis', value: s.batchSize },
      revokeBatchWithEdges: latencyJson(s.revokeBatchWithEdges),
      propagation: propagationJson(s.propagation),
      revokeNoEdges: latencyJson(s.revokeNoEdges),
      snapshot: bytes(s.snapshotBytes),
      lastFold:
        s.lastFold === undefined
          ? null
          : { duration: { unit: 'ms', value: s.lastFold.durationMs }, snapshot: bytes(s.lastFold.bytes) },
      freshEdgeNoRevocations: freshEdgeJson(s.freshEdgeNoRevocations),
      freshEdgeAtScale: freshEdgeJson(s.freshEdgeAtScale),
    },
    controlPlaneRss: {
      noRevocations: bytes(r.controlPlaneRssBytes.noRevocations),
      atScale: bytes(r.controlPlaneRssBytes.atScale),
      peakDuringScale: bytes(r.controlPlaneRssBytes.peakDuringScale),
    },
    controlPlaneHeapUsed: {
      noRevocations: bytes(r.controlPlaneHeapUsedBytes.noRevocations),
      atScale: bytes(r.controlPlaneHeapUsedBytes.atScale),
    },
  };
}

/** The object written to bench/results.json. */
export function resultsJson(f: BenchFigures, verdicts: readonly Verdict[], run: RunContext): object {
  const {
    inProcess,
    workerd,
    http,
    rotation,
    revocationPropagation,
    bundle,
    keysetSize,
    runtimeVerify,
    isolates,
    revocations,
  } = f;
  const edgeRss = (name: string) => ({
    idleWithKeyset: bytes(http.rss[name]?.idle ?? Number.NaN),
    peakUnderLoad: bytes(http.rss[name]?.peakUnderLoad ?? Number.NaN),
  });
  const timing = inProcess.timing;
  return {
    date: new Date().toISOString(),
    runtime: {
      node: process.version,
      bun: run.bunVersion,
      workerd: workerd.workerdVersion,
      workerdCompatibilityDate: workerd.compatibilityDate,
      valkey: rotation.valkeyVersion,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      loadAverage1m: {
        unit: 'runnable processes',
        atStart: round(run.loadAtStart[0] ?? 0, 3),
        atEnd: round(run.loadAtEnd[0] ?? 0, 3),
      },
      benchDuration: { unit: 's', value: round(run.durationS, 3) },
      quick: run.quick,
    },
    verify: {
      token: {
        claimsBytes: bytes(f.fixture.payloadBytes),
        tokenBytes: bytes(f.fixture.tokens.withKid.length),
        keysInRing: f.fixture.keyset.keys.length,
        asymmetricTokenBytes: {
          EdDSA: bytes(f.fixture.asymmetric.tokens.EdDSA.length),
          ES256: bytes(f.fixture.asymmetric.tokens.ES256.length),
        },
        asymmetricKeysInRing: f.fixture.asymmetric.keyset.keys.length,
      },
      method: `interleaved rounds: ${timing.rounds} rounds of ~${timing.batchMs} ms per case after ${timing.warmupMs} ms warm-up; ratios are per round`,
      node: { cases: caseJson(inProcess.cases), ratios: ratioJson(inProcess.ratios) },
      workerd: {
        clock: workerd.clock,
        base64DecoderOfLowerBound: workerd.base64Decoder,
        emptyRequest: withUnit(workerd.emptyRequestMs, 'ms'),
        cases: caseJson(workerd.cases),
        ratios: ratioJson(workerd.ratios),
      },
    },
    http: {
      loadGenerator: `autocannon (in-process), ${http.options.connections} connections, pipelining 1, loopback`,
      pinning: http.pinning
        ? { servers: http.pinning.servers, loader: http.pinning.loader }
        : 'none (no taskset)',
      roundsPerConfig: http.options.rounds,
      roundSeconds: http.options.roundSeconds,
      results: Object.fromEntries(
        http.results.map((h) => [
          h.id,
          {
            server: h.server,
            reqPerSec: withUnit(h.reqPerSec, 'req/s'),
            p50: withUnit(h.p50Ms, 'ms'),
            p99: withUnit(h.p99Ms, 'ms'),
            serverCpuPerRequest: withUnit(h.serverCpuUsPerRequest, 'µs'),
            requests: { unit: 'requests', value: h.requests },
            non2xx: { unit: 'responses', value: h.non2xx },
            errors: { unit: 'errors', value: h.errors },
          },
        ]),
      ),
      rawVerify: Object.fromEntries(
        Object.entries(http.rawVerify).map(([id, raw]) => [
          id,
          { fastest: raw.kind, perVerify: { unit: 'µs', value: round(raw.us) }, cases: caseJson(raw.cases) },
        ]),
      ),
      floors: Object.fromEntries(
        Object.entries(http.floors).map(([id, floor]) => [
          id,
          {
            bare: floor.bare,
            bareServerCpuPerRequest: { unit: 'µs', value: round(floor.bareCpuUs) },
            rawVerify: `${floor.rawVerify} (${floor.rawVerifyKind})`,
            rawVerifyPerRequest: { unit: 'µs', value: round(floor.rawVerifyUs) },
            floorPerRequest: { unit: 'µs', value: round(floor.floorUs) },
          },
        ]),
      ),
      ratios: ratioJson(http.ratios),
    },
    runtimeVerify: {
      method: `inside each runtime: the lower bound (raw) and Keyward's verifyToken, each with node:crypto and with WebCrypto, interleaved rounds (${runtimeVerify.timing.rounds} of ~${runtimeVerify.timing.batchMs} ms)`,
      cases: Object.fromEntries(
        Object.entries(runtimeVerify.cases).map(([runtime, cases]) => [runtime, caseJson(cases)]),
      ),
      ratios: Object.fromEntries(
        Object.entries(runtimeVerify.ratios).map(([runtime, ratios]) => [runtime, ratioJson(ratios)]),
      ),
    },
    isolates: {
      shape: { locations: isolates.locations, isolatesPerLocation: isolates.isolatesPerLocation },
      revalidate: { unit: 'ms', value: isolates.revalidateMs },
      documentedBound: { unit: 'ms', value: isolates.documentedBoundMs },
      rounds: isolates.rounds,
      revokedRefusedSlowestIsolate: {
        unit: 'ms',
        p50: round(isolates.revokedRefused.p50Ms),
        max: round(isolates.revokedRefused.maxMs),
        overBound: isolates.revokedRefused.overBound,
      },
      newVerifiedSlowestIsolate: {
        unit: 'ms',
        p50: round(isolates.newVerified.p50Ms),
        max: round(isolates.newVerified.maxMs),
        overBound: isolates.newVerified.overBound,
      },
      originPerLocationPerInterval: { unit: 'requests', value: round(isolates.originPerLocationPerInterval) },
      originPerLocationPerIntervalUnshared: {
        unit: 'requests',
        value: round(isolates.originPerLocationPerIntervalUnshared),
      },
      notModifiedShare: { unit: 'ratio', value: round(isolates.notModifiedShare) },
    },
    revocations: {
      nsPerOp: Object.fromEntries(revocations.cases.map((c) => [c.name, roundSummary(c.nsPerOp)])),
      ratios: Object.fromEntries(
        Object.entries(revocations.ratios).map(([name, s]) => [name, roundSummary(s, 3)]),
      ),
      heapPer100kJtis: bytes(Math.round((revocations.memory.heapBytes * 100_000) / revocations.memory.jtis)),
      bytesPerJti: { unit: 'bytes', value: round(revocations.memory.bytesPerJti) },
      snapshot100kJtis: bytes(revocations.snapshot.bytes),
      snapshotOpenAndApply: withUnit(revocations.snapshot.openAndApplyMs, 'ms'),
      oneJtiDelta: bytes(revocations.oneJtiDeltaBytes),
    },
    keysetSize: {
      limit: bytes(keysetSize.limitBytes),
      series: Object.fromEntries(
        keysetSize.series.map((s) => [
          s.series,
          {
            sealedAs: s.points.at(-1)?.envelope,
            perKey: {
              keysetJson: { unit: 'bytes', value: round(s.perKey.keysetJsonBytes, 4) },
              envelope: { unit: 'bytes', value: round(s.perKey.envelopeBytes, 4) },
            },
            keysUnderLimit: { unit: 'keys', value: s.keysUnderLimit },
            points: s.points.map((p) => ({
              keys: p.keys,
              keysetJson: bytes(p.keysetJsonBytes),
              envelope: bytes(p.envelopeBytes),
            })),
          },
        ]),
      ),
    },
    rotation: {
      gracePeriod: rotation.gracePeriod,
      rotateSecretNoEdges: latencyJson(rotation.rotateSecretNoEdges),
      rotateSecretNoEdgesPaced: latencyJson(rotation.rotateSecretNoEdgesPaced),
      oneEdgeAdds: { unit: 'ms', value: round(rotation.oneEdgeAddsMs) },
      pushBreakdown: {
        keys: rotation.pushBreakdown.keys,
        envelope: bytes(rotation.pushBreakdown.envelopeBytes),
        calls: rotation.pushBreakdown.calls,
        parts: Object.fromEntries(
          rotation.pushBreakdown.parts.map((p) => [
            p.part,
            { unit: 'ms', p50: round(p.p50Ms), p90: round(p.p90Ms) },
          ]),
        ),
      },
      fanOutFloor: fanOutFloorJson(rotation.fanOutFloor),
      oneEdgeFloor: fanOutFloorJson(rotation.oneEdgeFloor),
      propagation: rotation.propagation.map((p) => ({
        edges: p.edges,
        rotations: p.rotations,
        rotateSecret: latencyJson(p.rotateSecret),
        visibleAfterReturn: latencyJson(p.visibleAfterReturn),
        visibleAfterCall: latencyJson(p.visibleAfterCall),
        probeRoundTripNoChange: latencyJson(p.probeRoundTripNoChange),
        notVisibleWithin2s: { unit: 'rotations', value: p.notVisibleWithin2s },
        notVisibleAtReturn: { unit: 'rotations', value: p.notVisibleAtReturn },
      })),
      staging: {
        edges: rotation.staging.edges,
        stageToConfirmed: latencyJson(rotation.staging.stageToConfirmed),
        notConfirmed: { unit: 'stagings', value: rotation.staging.notConfirmed },
      },
    },
    fanout: {
      method: `control plane process, EDGE_URLS of ${f.fanout.edges} loopback listeners in one process (answers without opening the envelope), PUSH_CONCURRENCY ${f.fanout.concurrency}, PUSH_BUDGET ${f.fanout.budgetMs} ms, ${f.fanout.rotations} rotations`,
      edges: f.fanout.edges,
      rotateSecret: latencyJson(f.fanout.rotateSecret),
      lastEdgeAnswered: latencyJson(f.fanout.lastEdgeAnswered),
      perEdge: latencyJson(f.fanout.perEdge),
      notConfirmed: { unit: 'edges', value: f.fanout.notConfirmed },
      controlPlaneRss: {
        idleNoEdges: bytes(f.fanout.controlPlaneRssBytes.idleNoEdges),
        idleWithEdges: bytes(f.fanout.controlPlaneRssBytes.idleWithEdges),
        peakWithEdges: bytes(f.fanout.controlPlaneRssBytes.peakWithEdges),
      },
      rssPerEdge: { unit: 'bytes', value: round(f.fanout.rssPerEdgeBytes) },
      cpuPerEdge: { unit: 'us', value: round(f.fanout.cpuPerEdgeUs) },
      cpuPerRotation: {
        noEdges: { unit: 'ms', value: round(f.fanout.cpuPerRotationMs.noEdges) },
        withEdges: { unit: 'ms', value: round(f.fanout.cpuPerRotationMs.withEdges) },
      },
    },
    revocationPropagation: revocationJson(revocationPropagation),
    memory: {
      controlPlaneRss: {
        idleNoEdges: bytes(rotation.controlPlaneRssBytes.idle),
        peakUnderRotations: bytes(rotation.controlPlaneRssBytes.peakUnderRotations),
        idleWith20Edges: bytes(rotation.controlPlaneRssBytes.idleWith20Edges),
        peakWith20Edges: bytes(rotation.controlPlaneRssBytes.peakWith20Edges),
      },
      nodeEdgeRss: edgeRss('node keyward'),
      bunEdgeRss: edgeRss('bun keyward'),
      denoEdgeRss: edgeRss('deno keyward'),
      bareNodeHttpRss: edgeRss('node bare'),
      rotationEdgesIdleRss: { unit: 'bytes', values: rotation.edgeIdleRssBytes },
      otherServersRss: Object.fromEntries(
        Object.entries(http.rss).map(([name, rss]) => [
          name,
          { idle: bytes(rss.idle), peakUnderLoad: bytes(rss.peakUnderLoad) },
        ]),
      ),
      breakdown: {
        method: `each process started fresh and alone with --expose-gc and a preload (bench/support/idle-memory-probe.cjs), idle ${f.memoryBreakdown.settleMs} ms after listening; RSS and its anonymous and file-backed parts from /proc/<pid>/status, then heap figures from process.memoryUsage() after gc(); median of ${f.memoryBreakdown.rounds} rounds; compiled rows run scripts/build.ts output in .tmp/bench-memory-build (built in ${f.memoryBreakdown.buildMs} ms)`,
        processes: f.memoryBreakdown.processes.map((p) => ({
          name: p.name,
          over: p.over ?? null,
          rss: bytes(p.rssBytes),
          rssAnon: bytes(p.rssAnonBytes),
          rssFile: bytes(p.rssFileBytes),
          heapTotal: bytes(p.heapTotalBytes),
          heapUsed: bytes(p.heapUsedBytes),
          external: bytes(p.externalBytes),
        })),
      },
    },
    bundle: {
      tool: bundle.tool,
      raw: bytes(bundle.rawBytes),
      gzip: bytes(bundle.gzipBytes),
      limit: bytes(bundle.limitBytes),
      fractionOfLimit: { unit: 'fraction', value: round(bundle.fractionOfLimit, 3) },
      inputBytesByPackage: { unit: 'bytes', ...bundle.inputBytesByPackage },
      coldStart: {
        method: `fresh workerd (Miniflare) per sample, ${bundle.coldStart.rounds} rounds, Keyward and a trivial Worker interleaved; Keyward's first request pulls the keyset from a loopback KEYSET_URL`,
        keyward: coldStartJson(bundle.coldStart.keyward),
        trivial: coldStartJson(bundle.coldStart.trivial),
        ratioFirstAnswer: withUnit(bundle.coldStart.ratio, 'ratio', 3),
      },
    },
    adminToken: f.adminToken,
    ha: haJson(f.ha),
    targets: verdicts,
  };
}

/** A call pushing to N edges against the same fan-out to N bare servers, and the CPU each side spent. */
function fanOutFloorJson(f: FanOutFloor) {
  const ms = (value: number) => ({ unit: 'ms', value: round(value) });
  return {
    method: `interleaved call by call, ${f.rounds} rounds, ${FAN_OUT_PAUSE_MS} ms after every call: ${f.call} with ${f.edges} node edges (no probes); ${f.call} on a control plane with no edges and its own valkey-server; the ${f.envelopeBytes} B document it pushes, PUT through the control plane's push transport to ${f.edges} bare node:http servers (bench/servers/bare-keyset-put.ts). CPU: mean per call of every thread's time on a CPU (/proc schedstat), from the call until the pause after it ended`,
    call: f.call,
    withEdges: { unit: 'ms', p50: round(f.callP50Ms), p99: round(f.callP99Ms) },
    noEdges: { unit: 'ms', p50: round(f.noEdgesP50Ms) },
    bareFanOut: { unit: 'ms', p50: round(f.bareFanOutP50Ms), p99: round(f.bareFanOutP99Ms) },
    floor: {
      ...ms(f.noEdgesP50Ms + f.bareFanOutP50Ms),
      of: `${f.call} without edges (p50) + the bare fan-out (p50), interleaved`,
    },
    cpuPerCall: {
      controlPlane: ms(f.callCpuMs.controlPlane),
      edges: ms(f.callCpuMs.edges),
      perEdge: ms(f.callCpuMs.perEdge),
      caller: ms(f.callCpuMs.caller),
    },
    cpuPerBareRound: {
      sender: ms(f.bareCpuMs.sender),
      servers: ms(f.bareCpuMs.servers),
      perServer: ms(f.bareCpuMs.perServer),
    },
  };
}
