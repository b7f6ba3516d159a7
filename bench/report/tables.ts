/** The bench's tables: printed after a run, and in Markdown for bench/README.md. */
import { fmt, mib, type Row, ratioText, spreadText, table } from '../../test/support/figure-format.ts';
import { quantile, type Summary } from '../../test/support/stats.ts';
import type { AdminTokenTiming } from '../cases/admin-token-timing.ts';
import type { HttpVerify } from '../cases/http-verify.ts';
import type { IsolateConvergenceBench } from '../cases/isolate-convergence.ts';
import type { KeysetSize, KeysetSizePoint } from '../cases/keyset-size.ts';
import type { MemoryBreakdown } from '../cases/memory-breakdown.ts';
import type { PushFanoutBench } from '../cases/push-fanout.ts';
import type { RevocationBench } from '../cases/revocation-propagation.ts';
import type { RevocationVerify } from '../cases/revocation-verify.ts';
import type { RotationBench } from '../cases/rotation.ts';
import type { RuntimeVerify } from '../cases/runtime-verify.ts';
import type { HaBench } from '../cases/valkey-ha.ts';
import type { BundleSize } from '../cases/worker-bundle-size.ts';
import type { BenchFigures } from '../figures.ts';
import type { FanOutFloor } from '../support/fan-out-floor.ts';
import { type CaseTiming, caseNamed, ratioOf } from '../support/interleaved-timing.ts';
import type { Verdict } from '../targets.ts';

export interface BenchTable {
  header: Row;
  rows: Row[];
  /** Also written as Markdown for bench/README.md. */
  inReadme: boolean;
}

/**
 * The lower bound a case is compared with in the verify table: `<bound>` for an HS256 case without suffix,
 * `<bound>/eddsa` or `<bound>/es256` for the asymmetric ones; none for the other variants.
 */
function lowerBoundOf(name: string, bound: string): string | undefined {
  if (!name.includes('/')) return bound;
  const alg = /\/(eddsa|es256)$/.exec(name)?.[1];
  return alg === undefined ? undefined : `${bound}/${alg}`;
}

function verifyRows(runtime: string, cases: readonly CaseTiming[], bound: string): Row[] {
  return cases.map((c) => {
    const lower = lowerBoundOf(c.name, bound);
    return [
      `${runtime}  ${c.name}`,
      spreadText(c.nsPerOp, 2, 1e-3),
      fmt(1e9 / c.nsPerOp.median, 0),
      lower === undefined ? '' : lower === c.name ? '1.00x' : ratioText(ratioOf(c, caseNamed(cases, lower))),
    ];
  });
}

function verifyTable({ inProcess, workerd }: Partial<BenchFigures>): BenchTable {
  const rows: Row[] = [
    ...(inProcess ? verifyRows('node', inProcess.cases, 'node-lower-bound') : []),
    ...(workerd ? verifyRows('workerd', workerd.cases, 'lower-bound') : []),
  ];
  const header = [
    'verify (one token, kid, ~300 B claims)',
    'us/op median (min-max)',
    'ops/s',
    'vs lower bound',
  ];
  return { header, rows, inReadme: true };
}

function verifyRatioTable({ inProcess, workerd }: Partial<BenchFigures>): BenchTable {
  const rows: Row[] = [
    ...Object.entries(inProcess?.ratios ?? {}).map(([name, s]) => [`node  ${name}`, ratioText(s)]),
    ...Object.entries(workerd?.ratios ?? {}).map(([name, s]) => [`workerd  ${name}`, ratioText(s)]),
  ];
  return { header: ['ratio, per round (median (min-max))', 'value'], rows, inReadme: false };
}

function httpTable(http: HttpVerify): BenchTable {
  const rows: Row[] = http.results.map((h) => [
    h.id,
    fmt(h.reqPerSec.median, 0),
    `${fmt(h.p50Ms.median, 1)}`,
    `${fmt(h.p99Ms.median, 1)}`,
    fmt(h.serverCpuUsPerRequest.median, 1),
    String(h.non2xx + h.errors),
  ]);
  const header = ['HTTP /verify, 50 conns', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'errors'];
  return { header, rows, inReadme: true };
}

function httpRatioTable(http: HttpVerify): BenchTable {
  const rows: Row[] = Object.entries(http.ratios).map(([name, s]) => [name, ratioText(s)]);
  return { header: ['HTTP ratio, per round', 'value'], rows, inReadme: false };
}

function rotationTable(rotation: RotationBench): BenchTable {
  const latency = (label: string, f: { p50Ms: number; p99Ms: number; maxMs: number }): Row => [
    label,
    fmt(f.p50Ms),
    fmt(f.p99Ms),
    fmt(f.maxMs),
  ];
  const rows: Row[] = [
    latency(
      `RotateSecret, no edges (${rotation.rotateSecretNoEdges.calls} calls, back to back)`,
      rotation.rotateSecretNoEdges,
    ),
    latency(
      `RotateSecret, no edges, paced as the edge counts (${rotation.rotateSecretNoEdgesPaced.calls} calls)`,
      rotation.rotateSecretNoEdgesPaced,
    ),
  ];
  for (const p of rotation.propagation) {
    rows.push(
      latency(`RotateSecret, ${count(p.edges, 'edge')} (waits for pushes)`, p.rotateSecret),
      latency(`  every edge verifying, from the call`, p.visibleAfterCall),
      latency(`  probe round trip, nothing new`, p.probeRoundTripNoChange),
    );
  }
  rows.push(['one edge adds to RotateSecret (medians, paced alike)', fmt(rotation.oneEdgeAddsMs), '', '']);
  rows.push([
    '  floor: the same PUT to one bare server, paced alike (in a session of its own, below)',
    fmt(rotation.oneEdgeFloor.bareFanOutP50Ms),
    fmt(rotation.oneEdgeFloor.bareFanOutP99Ms),
    '',
  ]);
  rows.push(
    latency(
      `StageKey (EdDSA), ${rotation.staging.edges} edges: the call until every edge confirmed`,
      rotation.staging.stageToConfirmed,
    ),
  );
  return {
    header: ['rotation (valkey, control plane process)', 'p50 ms', 'p99 ms', 'max ms'],
    rows,
    inReadme: true,
  };
}

function fanoutTable(fanout: PushFanoutBench): BenchTable {
  const latency = (label: string, f: { p50Ms: number; p99Ms: number; maxMs: number }): Row => [
    label,
    fmt(f.p50Ms),
    fmt(f.p99Ms),
    fmt(f.maxMs),
  ];
  const rss = fanout.controlPlaneRssBytes;
  return {
    header: [
      `push to ${fanout.edges} edges (${fanout.rotations} rotations, concurrency ${fanout.concurrency})`,
      'p50 ms',
      'p99 ms',
      'max ms',
    ],
    rows: [
      latency('RotateSecret (answers once every edge confirmed)', fanout.rotateSecret),
      latency(`the call until the ${fanout.edges}th edge answered`, fanout.lastEdgeAnswered),
      latency('the call until each edge answered', fanout.perEdge),
      ['edges reported not confirmed (all rotations)', String(fanout.notConfirmed), '', ''],
      ['control plane RSS, idle, no edges', mib(rss.idleNoEdges), '', ''],
      [`control plane RSS, idle, ${fanout.edges} edges (connections kept)`, mib(rss.idleWithEdges), '', ''],
      ['control plane RSS, peak under the rotations', mib(rss.peakWithEdges), '', ''],
      ['control plane RSS per edge (KiB)', fmt(fanout.rssPerEdgeBytes / 1024, 1), '', ''],
      ['control plane CPU per edge pushed (µs)', fmt(fanout.cpuPerEdgeUs, 0), '', ''],
    ],
    inReadme: true,
  };
}

function haTable(ha: HaBench): BenchTable {
  const rows: Row[] = ha.latency.map((l) => [
    `RotateSecret, ${l.description} (${l.rotateSecret.calls} calls)`,
    fmt(l.rotateSecret.p50Ms),
    fmt(l.rotateSecret.p99Ms),
    fmt(l.rotateSecret.maxMs),
    l.name === 'standalone' ? '' : fmt(l.addedOverStandaloneMs),
  ]);
  return {
    header: [
      'Valkey set-ups, calls interleaved (control plane process, no edges)',
      'p50 ms',
      'p99 ms',
      'max ms',
      'adds ms (paired median)',
    ],
    rows,
    inReadme: true,
  };
}

const median = (values: number[]) => quantile(values, 0.5);
const listMs = (values: number[]) => values.map((v) => (Number.isFinite(v) ? fmt(v, 0) : 'none')).join(', ');

function failoverTable(ha: HaBench): BenchTable {
  const rows: Row[] = ha.failover.flatMap((f) => [
    [
      `${f.setUp}: SIGKILL to a replica promoted (${f.detection})`,
      fmt(median(f.promotedMs), 0),
      listMs(f.promotedMs),
    ],
    [
      `${f.setUp}: SIGKILL to the first successful RotateSecret, VALKEY_MIN_REPLICAS=1`,
      fmt(median(f.firstRotationMs), 0),
      `${listMs(f.firstRotationMs)} (failed calls: ${f.failedCalls.join(', ')})`,
    ],
  ]);
  return {
    header: ['failover (primary killed, SIGKILL)', 'median ms', 'each round, ms'],
    rows,
    inReadme: true,
  };
}

function revocationTable(r: RevocationBench): BenchTable {
  const latency = (label: string, f: { p50Ms: number; p99Ms: number; maxMs: number }): Row => [
    label,
    fmt(f.p50Ms),
    fmt(f.p99Ms),
    fmt(f.maxMs),
  ];
  const p = r.propagation;
  const s = r.scale;
  const live = s.live.toLocaleString('en-US');
  const rows: Row[] = [
    latency(`RevokeTokens, 1 jti, no edges (${r.revokeNoEdges.calls} calls)`, r.revokeNoEdges),
    latency(`RevokeTokens, 1 jti, ${p.edges} edges (waits for pushes; ${p.calls} calls)`, p.revokeTokens),
    latency(`  every edge refusing (token_revoked), from the call`, p.refusedAfterCall),
    latency(`  probe round trip, nothing new`, p.probeRoundTripNoChange),
    latency(`RevokeTokens, 1,000 jtis, ${p.edges} edges`, r.revoke1000With20Edges),
    latency(
      `RevokeTokens, ${s.batchSize.toLocaleString('en-US')} jtis, ${p.edges} edges (${s.batches} calls to ${live} live)`,
      s.revokeBatchWithEdges,
    ),
    latency(`at ${live} live: RevokeTokens, 1 jti, no edges`, s.revokeNoEdges),
    latency(`at ${live} live: RevokeTokens, 1 jti, ${p.edges} edges`, s.propagation.revokeTokens),
    latency(`  every edge refusing, from the call`, s.propagation.refusedAfterCall),
    latency(
      `fresh node edge (KEYSET_URL), spawn to first verify, no revocations (${s.freshEdgeNoRevocations.rounds} rounds)`,
      s.freshEdgeNoRevocations.verifies,
    ),
    latency(`fresh node edge, spawn to first verify, ${live} live`, s.freshEdgeAtScale.verifies),
    latency(`fresh node edge, spawn to refusing a revoked jti, ${live} live`, s.freshEdgeAtScale.refuses),
  ];
  return {
    header: ['revocation (valkey, control plane process)', 'p50 ms', 'p99 ms', 'max ms'],
    rows,
    inReadme: true,
  };
}

function revocationSizeTable(r: RevocationBench): BenchTable {
  const s = r.scale;
  const live = s.live.toLocaleString('en-US');
  const cp = r.controlPlaneRssBytes;
  const missed = r.propagation.notRefusedWithin2s + s.propagation.notRefusedWithin2s;
  const rows: Row[] = [
    ['delta pushed to an up-to-date edge, 1 jti', `${r.bytes.oneJtiDelta} B`],
    [
      'delta pushed, 1,000 jtis (per jti)',
      `${fmt(r.bytes.thousandJtiDelta / 1024, 1)} KiB (${fmt(r.bytes.perJtiIn1000, 1)} B)`,
    ],
    [`snapshot (GET /revocations?since=0), ${live} live`, mib(s.snapshotBytes)],
    [
      'last snapshot rewrite during the scale calls (after answering: sign, Valkey write)',
      s.lastFold === undefined ? 'none logged' : `${s.lastFold.durationMs} ms (${mib(s.lastFold.bytes)})`,
    ],
    [`control plane RSS, no revocations / ${live} live`, `${mib(cp.noRevocations)} / ${mib(cp.atScale)}`],
    ['control plane RSS, peak during the scale calls', mib(cp.peakDuringScale)],
    [
      `control plane V8 heap in use, no revocations / ${live} live`,
      `${mib(r.controlPlaneHeapUsedBytes.noRevocations)} / ${mib(r.controlPlaneHeapUsedBytes.atScale)}`,
    ],
    [
      'fresh edge answered 200 to the revoked token before refusing it',
      `${s.freshEdgeAtScale.validBeforeRefusal} answers in ${s.freshEdgeAtScale.rounds} rounds`,
    ],
    ['calls some edge still verified 2 s after the answer', String(missed)],
  ];
  return { header: ['revocation sizes and memory', 'value'], rows, inReadme: true };
}

/** "1 edge", "20 edges". */
const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function fanOutFloorTable(f: FanOutFloor): BenchTable {
  const rows: Row[] = [
    [`${f.call}, ${count(f.edges, 'edge')}, no probes`, fmt(f.callP50Ms), fmt(f.callP99Ms)],
    [`${f.call}, no edges`, fmt(f.noEdgesP50Ms), ''],
    [
      `the same document (${f.envelopeBytes} B) to ${count(f.edges, 'bare node:http server')}, the control plane's transport`,
      fmt(f.bareFanOutP50Ms),
      fmt(f.bareFanOutP99Ms),
    ],
    [`floor: ${f.call} without edges + the bare fan-out (p50s)`, fmt(f.noEdgesP50Ms + f.bareFanOutP50Ms), ''],
  ];
  return {
    header: [
      `${f.call} to ${count(f.edges, 'edge')} against its fan-out floor (${f.rounds} rounds, interleaved)`,
      'p50 ms',
      'p99 ms',
    ],
    rows,
    inReadme: true,
  };
}

function fanOutCpuTable(f: FanOutFloor): BenchTable {
  const rows: Row[] = [
    [`control plane, per ${f.call}`, fmt(f.callCpuMs.controlPlane)],
    f.edges === 1
      ? [`the edge, per ${f.call}`, fmt(f.callCpuMs.edges)]
      : [
          `all ${f.edges} edges, per ${f.call}; one edge`,
          `${fmt(f.callCpuMs.edges)}; ${fmt(f.callCpuMs.perEdge)}`,
        ],
    [`the caller (gRPC client), per ${f.call}`, fmt(f.callCpuMs.caller)],
    ['the sender of the bare fan-out, per round', fmt(f.bareCpuMs.sender)],
    f.edges === 1
      ? ['the bare server, per round', fmt(f.bareCpuMs.servers)]
      : [
          `all ${f.edges} bare servers, per round; one server`,
          `${fmt(f.bareCpuMs.servers)}; ${fmt(f.bareCpuMs.perServer)}`,
        ],
  ];
  return {
    header: [
      `CPU per ${f.call} call to ${count(f.edges, 'edge')} (mean ms, every thread, /proc schedstat)`,
      'ms',
    ],
    rows,
    inReadme: true,
  };
}

function pushBreakdownTable(rotation: RotationBench): BenchTable {
  const b = rotation.pushBreakdown;
  const rows: Row[] = b.parts.map((p) => [p.part, fmt(p.p50Ms, 3), fmt(p.p90Ms, 3)]);
  return {
    header: [
      `one push, part by part (${b.keys} keys, ${b.envelopeBytes} B envelope, ${b.calls} calls)`,
      'p50 ms',
      'p90 ms',
    ],
    rows,
    inReadme: true,
  };
}

function memoryTable(rotation: RotationBench, http: HttpVerify, bundle: BundleSize): BenchTable {
  const cp = rotation.controlPlaneRssBytes;
  const edge = (name: string) => {
    const rss = http.rss[name];
    return `${mib(rss?.idle ?? Number.NaN)} / ${mib(rss?.peakUnderLoad ?? Number.NaN)}`;
  };
  const rows: Row[] = [
    ['control plane RSS, idle (no edges)', mib(cp.idle)],
    ['control plane RSS, peak under 100 rotations', mib(cp.peakUnderRotations)],
    [
      'control plane RSS, idle / peak with 20 edges',
      `${mib(cp.idleWith20Edges)} / ${mib(cp.peakWith20Edges)}`,
    ],
    ['node edge RSS, idle with keyset / peak under load', edge('node keyward')],
    ['bare node:http RSS, idle / peak under load', edge('node bare')],
    ['bun edge RSS, idle with keyset / peak under load', edge('bun keyward')],
    ['deno edge RSS, idle with keyset / peak under load', edge('deno keyward')],
    [
      'worker bundle, raw / gzip (limit 3 MiB)',
      `${fmt(bundle.rawBytes / 1024, 1)} KiB / ${fmt(bundle.gzipBytes / 1024, 1)} KiB (${fmt(bundle.fractionOfLimit * 100, 1)}%)`,
    ],
  ];
  return { header: ['memory and size', 'value'], rows, inReadme: true };
}

function memoryBreakdownTable(breakdown: MemoryBreakdown): BenchTable {
  const byName = new Map(breakdown.processes.map((p) => [p.name, p]));
  const mb = (bytes: number) => fmt(bytes / 1024 / 1024, 1);
  const signed = (bytes: number) => `${bytes >= 0 ? '+' : ''}${mb(bytes)}`;
  const rows: Row[] = breakdown.processes.map((p) => {
    const base = p.over === undefined ? undefined : byName.get(p.over);
    return [
      p.name,
      mb(p.rssBytes),
      `${mb(p.rssAnonBytes)} / ${mb(p.rssFileBytes)}`,
      `${mb(p.heapUsedBytes)} / ${mb(p.heapTotalBytes)}`,
      base === undefined
        ? ''
        : `${signed(p.rssBytes - base.rssBytes)} RSS, ${signed(p.heapTotalBytes - base.heapTotalBytes)} heap total over ${base.name}`,
    ];
  });
  return {
    header: [
      `idle process, fresh, ${fmt(breakdown.settleMs / 1000, 1)} s after listening`,
      'RSS MiB',
      'anon / file MiB',
      'heap used / total MiB',
      'adds (MiB) over',
    ],
    rows,
    inReadme: true,
  };
}

function coldStartTable(bundle: BundleSize): BenchTable {
  const c = bundle.coldStart;
  const row = (name: string, f: typeof c.keyward): Row => [
    name,
    fmt(f.readyMs.median, 1),
    fmt(f.firstRequestMs.median, 1),
    spreadText(f.firstAnswerMs, 1),
  ];
  return {
    header: [
      `worker cold start under workerd (${c.rounds} fresh processes each)`,
      'ready ms',
      'first request ms',
      'first answer ms median (min-max)',
    ],
    rows: [
      row('keyward (bundle as deployed; GET /verify, pull from KEYSET_URL)', c.keyward),
      row('trivial Worker (a constant answer)', c.trivial),
      ['keyward / trivial, first answer, per round', '', '', ratioText(c.ratio)],
    ],
    inReadme: true,
  };
}

function targetTable(verdicts: readonly Verdict[]): BenchTable {
  const rows = verdicts.map((v) => [v.met ? 'met' : 'MISSED', v.target, v.measured]);
  return { header: ['', 'target', 'measured'], rows, inReadme: true };
}

function runtimeVerifyTable(runtimeVerify: RuntimeVerify): BenchTable {
  const rows: Row[] = Object.entries(runtimeVerify.cases).flatMap(([runtime, cases]) =>
    cases.map((c) => {
      const web = c.name.replace('raw-node/', 'raw-web/').replace('keyward-node/', 'keyward-web/');
      const ratio = web === c.name ? undefined : runtimeVerify.ratios[runtime]?.[`${c.name} / ${web}`];
      return [
        `${runtime}  ${c.name}`,
        spreadText(c.nsPerOp, 2, 1e-3),
        fmt(1e9 / c.nsPerOp.median, 0),
        ratio === undefined ? '' : ratioText(ratio),
      ];
    }),
  );
  const header = [
    'verify by runtime and primitive (raw: lower bound)',
    'us/op median (min-max)',
    'ops/s',
    'node:crypto vs webcrypto',
  ];
  return { header, rows, inReadme: true };
}

function httpFloorTable(http: HttpVerify): BenchTable {
  const rows: Row[] = Object.entries(http.floors).map(([id, floor]) => {
    const subject = http.results.find((r) => r.id === id);
    return [
      id,
      fmt(subject?.serverCpuUsPerRequest.median ?? Number.NaN, 1),
      `${floor.bare} ${fmt(floor.bareCpuUs, 1)}`,
      `${fmt(floor.rawVerifyUs, 2)} (${floor.rawVerifyKind})`,
      fmt(floor.floorUs, 1),
      ratioText(http.ratios[`${id} / floor server CPU per request`] as Summary),
    ];
  });
  const header = [
    'HTTP /verify against its floor',
    'server CPU µs/req',
    'bare server µs/req',
    'lower bound CPU µs/verify',
    'floor µs/req',
    'vs floor, per round',
  ];
  return { header, rows, inReadme: true };
}

function keysetSizeTable(size: KeysetSize): BenchTable {
  const rows: Row[] = size.series.map((s) => {
    const first = s.points[0] as KeysetSizePoint;
    const last = s.points.at(-1) as KeysetSizePoint;
    return [
      s.series,
      `${fmt(first.keysetJsonBytes, 0)} / ${fmt(first.envelopeBytes, 0)}`,
      `${fmt(last.keysetJsonBytes, 0)} / ${fmt(last.envelopeBytes, 0)}`,
      `+${fmt(s.perKey.keysetJsonBytes, 0)} / +${fmt(s.perKey.envelopeBytes, 0)}`,
      last.envelope === 'jwe' ? 'JWE' : 'JWS',
      fmt(s.keysUnderLimit, 0),
    ];
  });
  const last = size.series[0]?.points.at(-1)?.keys ?? 0;
  const header = [
    'keyset bytes: JSON / envelope',
    '1 key',
    `${last} keys`,
    'per further key',
    'sealed as',
    `keys under ${fmt(size.limitBytes / 1024, 0)} KiB`,
  ];
  return { header, rows, inReadme: true };
}

function isolatesTable(isolates: IsolateConvergenceBench): BenchTable {
  const within = (overBound: number) => `${isolates.rounds - overBound}/${isolates.rounds}`;
  return {
    header: [
      `Worker isolates (${isolates.locations} locations x ${isolates.isolatesPerLocation}), KEYSET_REVALIDATE ${fmt(isolates.revalidateMs, 0)} ms`,
      'p50 ms',
      'max ms',
      `within ${fmt(isolates.documentedBoundMs, 0)} ms`,
    ],
    rows: [
      [
        'emergency rotation: the slowest isolate refuses the old key',
        fmt(isolates.revokedRefused.p50Ms),
        fmt(isolates.revokedRefused.maxMs),
        within(isolates.revokedRefused.overBound),
      ],
      [
        'emergency rotation: the slowest isolate verifies the new key',
        fmt(isolates.newVerified.p50Ms),
        fmt(isolates.newVerified.maxMs),
        within(isolates.newVerified.overBound),
      ],
      [
        'origin requests per location per interval: shared cache / one per isolate',
        `${fmt(isolates.originPerLocationPerInterval)} / ${fmt(isolates.originPerLocationPerIntervalUnshared)}`,
        '',
        `${fmt(isolates.notModifiedShare * 100, 0)}% 304`,
      ],
    ],
    inReadme: true,
  };
}

function revocationsTable(r: RevocationVerify): BenchTable {
  const rows: Row[] = r.cases.map((c) => {
    const ratio = Object.entries(r.ratios).find(([name]) => name.startsWith(`${c.name} / `));
    return [
      `node  ${c.name}`,
      spreadText(c.nsPerOp, 2, 1e-3),
      ratio === undefined ? '' : `${ratioText(ratio[1])} of ${ratio[0].split(' / ')[1]}`,
    ];
  });
  rows.push(
    [
      `heap of ${fmt(r.memory.jtis, 0)} revoked jtis (UUIDs)`,
      `${mib(r.memory.heapBytes)}, ${fmt(r.memory.bytesPerJti, 0)} B/jti`,
      '',
    ],
    [
      `their snapshot: bytes, open + apply ms`,
      `${mib(r.snapshot.bytes)}, ${spreadText(r.snapshot.openAndApplyMs, 0)} ms`,
      '',
    ],
    ['a one-jti delta (a push)', `${fmt(r.oneJtiDeltaBytes, 0)} B`, ''],
  );
  return {
    header: ['revocation at the edge (HS256, node:crypto)', 'us/op median (min-max)', 'per round'],
    rows,
    inReadme: true,
  };
}

/** Every table of a run, in the order printed; those of cases that did not run (`--only`) left out. */
export function benchTables(figures: Partial<BenchFigures>, verdicts: readonly Verdict[]): BenchTable[] {
  const {
    inProcess,
    workerd,
    http,
    rotation,
    fanout,
    bundle,
    keysetSize,
    runtimeVerify,
    isolates,
    ha,
    revocations,
    revocationPropagation,
    memoryBreakdown,
  } = figures;
  return [
    ...(inProcess || workerd ? [verifyTable(figures), verifyRatioTable(figures)] : []),
    ...(runtimeVerify ? [runtimeVerifyTable(runtimeVerify)] : []),
    ...(http ? [httpTable(http), httpFloorTable(http), httpRatioTable(http)] : []),
    ...(rotation
      ? [
          rotationTable(rotation),
          fanOutFloorTable(rotation.oneEdgeFloor),
          fanOutCpuTable(rotation.oneEdgeFloor),
          fanOutFloorTable(rotation.fanOutFloor),
          fanOutCpuTable(rotation.fanOutFloor),
          pushBreakdownTable(rotation),
        ]
      : []),
    ...(revocationPropagation
      ? [
          revocationTable(revocationPropagation),
          fanOutFloorTable(revocationPropagation.fanOutFloor),
          fanOutCpuTable(revocationPropagation.fanOutFloor),
          revocationSizeTable(revocationPropagation),
        ]
      : []),
    ...(fanout ? [fanoutTable(fanout)] : []),
    ...(ha ? [haTable(ha), failoverTable(ha)] : []),
    ...(keysetSize ? [keysetSizeTable(keysetSize)] : []),
    ...(isolates ? [isolatesTable(isolates)] : []),
    ...(revocations ? [revocationsTable(revocations)] : []),
    ...(bundle ? [coldStartTable(bundle)] : []),
    ...(rotation && http && bundle ? [memoryTable(rotation, http, bundle)] : []),
    ...(memoryBreakdown ? [memoryBreakdownTable(memoryBreakdown)] : []),
    targetTable(verdicts),
  ];
}

/** The printed form. */
export function adminTokenTimingTable(result: AdminTokenTiming): string {
  const rows = result.cases.map((c) => [
    c.name,
    String(c.matched),
    spreadText(c.nsPerOp, 0),
    `${fmt(c.nsPerOp.spread * 100, 1)}%`,
    ratioText(c.ratioToNone),
  ]);
  return [
    table(['guess', 'chars matched', 'ns/op median (min-max)', 'spread', 'vs nothing matched'], rows),
    '',
    `wrong guesses, max/min of medians: ${fmt(result.wrongGuessesMaxOverMin.value, 3)}x` +
      ` (${fmt(result.wrongGuessesMaxMinusMin.value, 0)} ns/op apart);` +
      ` of their fastest rounds: ${fmt(result.wrongGuessesFastestMaxOverMin.value, 3)}x`,
    `right token / nothing matched: ${ratioText(result.rightOverNone)}`,
    `control, the same guess timed twice (noise floor): ${ratioText(result.sameGuessTwice)}`,
    `control, early-exit loop, ${result.tokenLength - 1} / 0 chars matched: ` +
      `${ratioText(result.leakyControl.allButLastOverNone)}, +${fmt(result.leakyControl.addedNs, 0)} ns/op`,
  ].join('\n');
}
