/**
 * `npm run bench`: Keyward's verify, /verify over HTTP, rotation and memory, each against a baseline measured
 * in the same run (SPEC section 7). Prints a table and writes bench/results.json. Loopback only; every load
 * is bounded in time; about three to four minutes on two cores.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { encodeBase64url } from '../shared/base64url.ts';
import { adminTokenTimingTable, benchAdminTokenTiming } from './admin-token-timing.ts';
import { measureBundle } from './bundle-size.ts';
import { cpuSplit, pinProcess } from './cpu-affinity.ts';
import { createFixture } from './fixtures.ts';
import { benchHttp, type HttpConfig, type HttpResult, httpRatio } from './http.ts';
import { benchInProcessNode } from './in-process.ts';
import { rssBytes, sleep } from './processes.ts';
import { fmt, markdownTable, mib, type Row, ratioText, spreadText, type Target, table } from './report.ts';
import { benchRotation } from './rotation.ts';
import { BUN, pushKeyset, ROOT, type Server, startBareHono, startBareVerify, startEdge } from './servers.ts';
import { round, roundSummary, type Summary } from './stats.ts';
import { type CaseTiming, ratioOf } from './timing.ts';
import { benchWorkerd } from './workerd.ts';

const quick = process.argv.includes('--quick');
const started = Date.now();
const loadAtStart = loadavg();
const log = (line: string) => console.log(line);
const withUnit = (summary: Summary, unit: string, digits = 4) => ({ unit, ...roundSummary(summary, digits) });

log(
  `keyward bench${quick ? ' (quick)' : ''}: node ${process.version}, ${cpus().length} cores, load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
);
const fixture = await createFixture();
const keysetKeyBytes = new Uint8Array(randomBytes(32));
const keysetKey = encodeBase64url(keysetKeyBytes);
const secretsNewestFirst = [...fixture.secrets].reverse();

// 1. In-process verify, Node.
log('\n[1/5] in-process verify on Node');
const timing = quick
  ? { rounds: 4, batchMs: 80, warmupMs: 200 }
  : { rounds: 10, batchMs: 150, warmupMs: 400 };
const nodeCases = await benchInProcessNode(fixture, timing);
const nodeCase = (name: string) => nodeCases.find((c) => c.name === name) as CaseTiming;

// 1b. In-process verify, workerd.
log('[2/5] in-process verify on workerd');
const workerd = await benchWorkerd(
  { keyset: fixture.keyset, secrets: secretsNewestFirst, tokens: fixture.tokens },
  quick ? { rounds: 4, batchMs: 80, warmupMs: 300 } : { rounds: 8, batchMs: 150, warmupMs: 600 },
);
const workerdCase = (name: string) => workerd.cases.find((c) => c.name === name) as CaseTiming;

// 2. HTTP.
log('[3/5] HTTP /verify under load');
// Servers on their cores, the load generator (autocannon, in this process) on its own, where taskset exists:
// children inherit this process's affinity when spawned (Bun's launcher included), then this process moves.
const split = cpuSplit();
const pinnedApart = split !== undefined && pinProcess(process.pid, split.servers);
const httpOptions = quick
  ? { connections: 50, warmupSeconds: 1, roundSeconds: 1, rounds: 2 }
  : { connections: 50, warmupSeconds: 1, roundSeconds: 2.5, rounds: 3 };
const servers: Server[] = [];
let http: { results: HttpResult[]; peakRssBytes: Map<Server, number> };
const idleRss = new Map<Server, number>();
try {
  const nodeEdge = await startEdge('node keyward', 'node', 'edge/src/runtime/node.ts', keysetKey);
  servers.push(nodeEdge);
  const bareVerify = await startBareVerify(secretsNewestFirst);
  servers.push(bareVerify);
  const bareHonoNode = await startBareHono('node');
  servers.push(bareHonoNode);
  const bunEdge = await startEdge('bun keyward', 'bun', 'edge/src/runtime/bun.ts', keysetKey);
  servers.push(bunEdge);
  const bareHonoBun = await startBareHono('bun');
  servers.push(bareHonoBun);
  if (pinnedApart && split) pinProcess(process.pid, split.loader);
  for (const edge of [nodeEdge, bunEdge]) await pushKeyset(edge.url, fixture.keyset, keysetKeyBytes);
  await sleep(1_000);
  for (const server of servers) idleRss.set(server, rssBytes(server.child.process.pid));
  const configs: HttpConfig[] = [];
  const add = (id: string, server: Server) => {
    configs.push({ id: `${id}/GET`, server, method: 'GET' }, { id: `${id}/POST`, server, method: 'POST' });
  };
  add('node/keyward', nodeEdge);
  add('node/bare-http+raw-verify', bareVerify);
  add('node/bare-hono-no-verify', bareHonoNode);
  add('bun/keyward', bunEdge);
  add('bun/bare-hono-no-verify', bareHonoBun);
  http = await benchHttp(configs, fixture.tokens.withKid, httpOptions);
} finally {
  await Promise.all(servers.map((server) => server.child.stop()));
  // The later sections spread over every core again.
  if (pinnedApart) pinProcess(process.pid, `0-${cpus().length - 1}`);
}
const httpResult = (id: string) => http.results.find((r) => r.id === id) as HttpResult;
const serverRss = (name: string) => {
  const server = servers.find((s) => s.name === name) as Server;
  return {
    idle: idleRss.get(server) ?? Number.NaN,
    peakUnderLoad: http.peakRssBytes.get(server) ?? Number.NaN,
  };
};

// 3. Rotation.
log('[4/5] rotation: RotateSecret against valkey-server, propagation to 1/5/20 node edges');
const rotation = await benchRotation({
  keysetKey,
  edgeCounts: [1, 5, 20],
  latencyCalls: quick ? 30 : 100,
  rotationsPerCount: quick ? 5 : 15,
  log,
});

// 4. Bundle.
log('[5/5] worker bundle size; admin token check timing');
const bundle = await measureBundle();
const adminToken = await benchAdminTokenTiming(
  quick ? { rounds: 60, batchMs: 5, warmupMs: 200 } : { rounds: 200, batchMs: 5, warmupMs: 300 },
);

// Ratios and targets.
const lower = nodeCase('node-lower-bound');
const kwNode = nodeCase('keyward-node-hmac');
const ratios = {
  'keyward-node-hmac / node-lower-bound': ratioOf(kwNode, lower),
  'keyward-node-hmac / fast-jwt': ratioOf(kwNode, nodeCase('fast-jwt')),
  'keyward-node-hmac / jose-cryptokey': ratioOf(kwNode, nodeCase('jose-cryptokey')),
  'keyward-node-hmac / jsonwebtoken': ratioOf(kwNode, nodeCase('jsonwebtoken')),
  'keyward-webcrypto / node-lower-bound': ratioOf(nodeCase('keyward-webcrypto'), lower),
  'keyward-webcrypto / keyward-node-hmac': ratioOf(nodeCase('keyward-webcrypto'), kwNode),
  'keyward-node-hmac/no-kid-4-keys / node-lower-bound/no-kid-4-keys': ratioOf(
    nodeCase('keyward-node-hmac/no-kid-4-keys'),
    nodeCase('node-lower-bound/no-kid-4-keys'),
  ),
  'keyward-node-hmac/bad-signature / node-lower-bound/bad-signature': ratioOf(
    nodeCase('keyward-node-hmac/bad-signature'),
    nodeCase('node-lower-bound/bad-signature'),
  ),
  'keyward-node-hmac/cache-hit / node-lower-bound': ratioOf(nodeCase('keyward-node-hmac/cache-hit'), lower),
};
const workerdRatios = {
  'keyward / lower-bound': ratioOf(workerdCase('keyward'), workerdCase('lower-bound')),
  'keyward / jose-cryptokey': ratioOf(workerdCase('keyward'), workerdCase('jose-cryptokey')),
  'keyward/no-kid-4-keys / lower-bound/no-kid-4-keys': ratioOf(
    workerdCase('keyward/no-kid-4-keys'),
    workerdCase('lower-bound/no-kid-4-keys'),
  ),
  'keyward/bad-signature / lower-bound/bad-signature': ratioOf(
    workerdCase('keyward/bad-signature'),
    workerdCase('lower-bound/bad-signature'),
  ),
  'keyward/cache-hit / lower-bound': ratioOf(workerdCase('keyward/cache-hit'), workerdCase('lower-bound')),
};
const httpRatios: Record<string, Summary> = {};
for (const method of ['GET', 'POST']) {
  const pairs: [string, string][] = [
    [`node/keyward/${method}`, `node/bare-http+raw-verify/${method}`],
    [`node/keyward/${method}`, `node/bare-hono-no-verify/${method}`],
    [`bun/keyward/${method}`, `bun/bare-hono-no-verify/${method}`],
  ];
  for (const [a, b] of pairs) {
    httpRatios[`${a} / ${b} req/s`] = httpRatio(httpResult(a), httpResult(b), 'reqPerSec');
    httpRatios[`${a} / ${b} p99`] = httpRatio(httpResult(a), httpResult(b), 'p99Ms');
    httpRatios[`${a} / ${b} server CPU per request`] = httpRatio(
      httpResult(a),
      httpResult(b),
      'serverCpuUsPerRequest',
    );
  }
}
const at20 = rotation.propagation.find((p) => p.edges === 20);
const r = (key: string) => httpRatios[key] as Summary;
const targets: Target[] = [
  {
    target: 'verify on Node (nodeHmac) within 1.3x of the Node lower bound',
    measured: ratioText(ratios['keyward-node-hmac / node-lower-bound']),
    met: ratios['keyward-node-hmac / node-lower-bound'].median <= 1.3,
  },
  {
    target: 'verify on Node (nodeHmac) no slower than fast-jwt',
    measured: ratioText(ratios['keyward-node-hmac / fast-jwt']),
    met: ratios['keyward-node-hmac / fast-jwt'].median <= 1.0,
  },
  {
    target: 'verify on workerd within 1.3x of raw crypto.subtle.verify',
    measured: ratioText(workerdRatios['keyward / lower-bound']),
    met: workerdRatios['keyward / lower-bound'].median <= 1.3,
  },
  {
    target: 'cache hit on Node within 0.4x of the Node lower bound',
    measured: ratioText(ratios['keyward-node-hmac/cache-hit / node-lower-bound']),
    met: ratios['keyward-node-hmac/cache-hit / node-lower-bound'].median <= 0.4,
  },
  {
    target: 'cache hit on workerd within 0.4x of the workerd lower bound',
    measured: ratioText(workerdRatios['keyward/cache-hit / lower-bound']),
    met: workerdRatios['keyward/cache-hit / lower-bound'].median <= 0.4,
  },
];
for (const method of ['GET', 'POST']) {
  const key = `node/keyward/${method} / node/bare-http+raw-verify/${method}`;
  targets.push(
    {
      target: `${method} /verify on Node entry >= 0.85x bare node:http + raw verify req/s`,
      measured: ratioText(r(`${key} req/s`)),
      met: r(`${key} req/s`).median >= 0.85,
    },
    {
      target: `${method} /verify on Node entry p99 within 1.5x of bare node:http + raw verify`,
      measured: ratioText(r(`${key} p99`)),
      met: r(`${key} p99`).median <= 1.5,
    },
  );
}
targets.push(
  {
    target: 'rotation visible at 20 edges: median <= 50 ms after RotateSecret returns',
    measured: `${fmt(at20?.visibleAfterReturn.p50Ms ?? Number.NaN)} ms`,
    met: (at20?.visibleAfterReturn.p50Ms ?? Number.POSITIVE_INFINITY) <= 50,
  },
  {
    target: 'rotation visible at 20 edges: worst <= 250 ms after RotateSecret returns',
    measured: `${fmt(at20?.visibleAfterReturn.maxMs ?? Number.NaN)} ms`,
    met:
      (at20?.visibleAfterReturn.maxMs ?? Number.POSITIVE_INFINITY) <= 250 && at20?.notVisibleWithin2s === 0,
  },
  {
    target: 'worker bundle (gzip) under the 3 MB limit',
    measured: `${fmt(bundle.gzipBytes / 1024, 1)} KiB`,
    met: bundle.gzipBytes < bundle.limitBytes,
  },
);

// Tables.
const verifyRows: Row[] = nodeCases.map((c) => [
  `node  ${c.name}`,
  spreadText(c.nsPerOp, 2, 1e-3),
  fmt(1e9 / c.nsPerOp.median, 0),
  c.name === 'node-lower-bound' ? '1.00x' : c.name.includes('/') ? '' : ratioText(ratioOf(c, lower)),
]);
for (const c of workerd.cases) {
  verifyRows.push([
    `workerd  ${c.name}`,
    spreadText(c.nsPerOp, 2, 1e-3),
    fmt(1e9 / c.nsPerOp.median, 0),
    c.name.includes('/') ? '' : ratioText(ratioOf(c, workerdCase('lower-bound'))),
  ]);
}
const verifyHeader = [
  'verify (one token, kid, ~300 B claims)',
  'us/op median (min-max)',
  'ops/s',
  'vs lower bound',
];
const extraRows: Row[] = [
  ...Object.entries(ratios).map(([name, s]) => [`node  ${name}`, ratioText(s)]),
  ...Object.entries(workerdRatios).map(([name, s]) => [`workerd  ${name}`, ratioText(s)]),
];
const httpRows: Row[] = http.results.map((h) => [
  h.id,
  fmt(h.reqPerSec.median, 0),
  `${fmt(h.p50Ms.median, 1)}`,
  `${fmt(h.p99Ms.median, 1)}`,
  fmt(h.serverCpuUsPerRequest.median, 1),
  String(h.non2xx + h.errors),
]);
const httpHeader = ['HTTP /verify, 50 conns', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'errors'];
const httpRatioRows: Row[] = Object.entries(httpRatios).map(([name, s]) => [name, ratioText(s)]);
const rotationRows: Row[] = [
  [
    `RotateSecret, no edges (${rotation.rotateSecretNoEdges.calls} calls)`,
    fmt(rotation.rotateSecretNoEdges.p50Ms),
    fmt(rotation.rotateSecretNoEdges.p99Ms),
    fmt(rotation.rotateSecretNoEdges.maxMs),
  ],
];
for (const p of rotation.propagation) {
  rotationRows.push(
    [
      `RotateSecret, ${p.edges} edge(s) (waits for pushes)`,
      fmt(p.rotateSecret.p50Ms),
      fmt(p.rotateSecret.p99Ms),
      fmt(p.rotateSecret.maxMs),
    ],
    [
      `  visible on all ${p.edges} after return`,
      fmt(p.visibleAfterReturn.p50Ms),
      fmt(p.visibleAfterReturn.p99Ms),
      fmt(p.visibleAfterReturn.maxMs),
    ],
    [
      `  visible on all ${p.edges} after call`,
      fmt(p.visibleAfterCall.p50Ms),
      fmt(p.visibleAfterCall.p99Ms),
      fmt(p.visibleAfterCall.maxMs),
    ],
    [
      `  probe round trip, nothing new`,
      fmt(p.probeRoundTripNoChange.p50Ms),
      fmt(p.probeRoundTripNoChange.p99Ms),
      fmt(p.probeRoundTripNoChange.maxMs),
    ],
  );
}
const rotationHeader = ['rotation (valkey, control plane process)', 'p50 ms', 'p99 ms', 'max ms'];
const nodeEdgeRss = serverRss('node keyward');
const bunEdgeRss = serverRss('bun keyward');
const memoryRows: Row[] = [
  ['control plane RSS, idle (no edges)', mib(rotation.controlPlaneRssBytes.idle)],
  ['control plane RSS, peak under 100 rotations', mib(rotation.controlPlaneRssBytes.peakUnderRotations)],
  [
    'control plane RSS, idle / peak with 20 edges',
    `${mib(rotation.controlPlaneRssBytes.idleWith20Edges)} / ${mib(rotation.controlPlaneRssBytes.peakWith20Edges)}`,
  ],
  [
    'node edge RSS, idle with keyset / peak under load',
    `${mib(nodeEdgeRss.idle)} / ${mib(nodeEdgeRss.peakUnderLoad)}`,
  ],
  [
    'bun edge RSS, idle with keyset / peak under load',
    `${mib(bunEdgeRss.idle)} / ${mib(bunEdgeRss.peakUnderLoad)}`,
  ],
  [
    'worker bundle, raw / gzip (limit 3 MiB)',
    `${fmt(bundle.rawBytes / 1024, 1)} KiB / ${fmt(bundle.gzipBytes / 1024, 1)} KiB (${fmt(bundle.fractionOfLimit * 100, 1)}%)`,
  ],
];
const targetRows: Row[] = targets.map((t) => [t.met ? 'met' : 'MISSED', t.target, t.measured]);

const bunVersion = spawnSync(BUN, ['--version'], { encoding: 'utf8' }).stdout.trim();
const loadAtEnd = loadavg();
const durationS = (Date.now() - started) / 1000;
const sections = [
  table(verifyHeader, verifyRows),
  table(['ratio, per round (median (min-max))', 'value'], extraRows),
  table(httpHeader, httpRows),
  table(['HTTP ratio, per round', 'value'], httpRatioRows),
  table(rotationHeader, rotationRows),
  table(['memory and size', 'value'], memoryRows),
  adminTokenTimingTable(adminToken),
  table(['target', '', 'measured'], targetRows),
];
log(`\n${sections.join('\n\n')}`);
log(
  `\nnode ${process.version}, bun ${bunVersion}, workerd ${workerd.workerdVersion}, valkey ${rotation.valkeyVersion}; ${cpus().length} cores; load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} -> ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}; ${fmt(durationS, 0)} s`,
);

const caseJson = (cases: CaseTiming[]) =>
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
const latencyJson = (f: { p50Ms: number; p99Ms: number; maxMs: number; minMs: number; calls: number }) => ({
  unit: 'ms',
  p50: round(f.p50Ms),
  p99: round(f.p99Ms),
  min: round(f.minMs),
  max: round(f.maxMs),
  samples: f.calls,
});
const bytes = (value: number) => ({ unit: 'bytes', value });
const results = {
  date: new Date().toISOString(),
  runtime: {
    node: process.version,
    bun: bunVersion,
    workerd: workerd.workerdVersion,
    workerdCompatibilityDate: workerd.compatibilityDate,
    valkey: rotation.valkeyVersion,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadAverage1m: {
      unit: 'runnable processes',
      atStart: round(loadAtStart[0] ?? 0, 3),
      atEnd: round(loadAtEnd[0] ?? 0, 3),
    },
    benchDuration: { unit: 's', value: round(durationS, 3) },
    quick,
  },
  verify: {
    token: {
      claimsBytes: bytes(fixture.payloadBytes),
      tokenBytes: bytes(fixture.tokens.withKid.length),
      keysInRing: fixture.keyset.keys.length,
    },
    method: `interleaved rounds: ${timing.rounds} rounds of ~${timing.batchMs} ms per case after ${timing.warmupMs} ms warm-up; ratios are per round`,
    node: { cases: caseJson(nodeCases), ratios: ratioJson(ratios) },
    workerd: {
      clock: workerd.clock,
      base64DecoderOfLowerBound: workerd.base64Decoder,
      emptyRequest: withUnit(workerd.emptyRequestMs, 'ms'),
      cases: caseJson(workerd.cases),
      ratios: ratioJson(workerdRatios),
    },
  },
  http: {
    loadGenerator: `autocannon (in-process), ${httpOptions.connections} connections, pipelining 1, loopback`,
    pinning: pinnedApart && split ? { servers: split.servers, loader: split.loader } : 'none (no taskset)',
    roundsPerConfig: httpOptions.rounds,
    roundSeconds: httpOptions.roundSeconds,
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
    ratios: ratioJson(httpRatios),
  },
  rotation: {
    gracePeriod: rotation.gracePeriod,
    rotateSecretNoEdges: latencyJson(rotation.rotateSecretNoEdges),
    propagation: rotation.propagation.map((p) => ({
      edges: p.edges,
      rotations: p.rotations,
      rotateSecret: latencyJson(p.rotateSecret),
      visibleAfterReturn: latencyJson(p.visibleAfterReturn),
      visibleAfterCall: latencyJson(p.visibleAfterCall),
      probeRoundTripNoChange: latencyJson(p.probeRoundTripNoChange),
      notVisibleWithin2s: { unit: 'rotations', value: p.notVisibleWithin2s },
    })),
  },
  memory: {
    controlPlaneRss: {
      idleNoEdges: bytes(rotation.controlPlaneRssBytes.idle),
      peakUnderRotations: bytes(rotation.controlPlaneRssBytes.peakUnderRotations),
      idleWith20Edges: bytes(rotation.controlPlaneRssBytes.idleWith20Edges),
      peakWith20Edges: bytes(rotation.controlPlaneRssBytes.peakWith20Edges),
    },
    nodeEdgeRss: { idleWithKeyset: bytes(nodeEdgeRss.idle), peakUnderLoad: bytes(nodeEdgeRss.peakUnderLoad) },
    bunEdgeRss: { idleWithKeyset: bytes(bunEdgeRss.idle), peakUnderLoad: bytes(bunEdgeRss.peakUnderLoad) },
    rotationEdgesIdleRss: { unit: 'bytes', values: rotation.edgeIdleRssBytes },
    otherServersRss: Object.fromEntries(
      servers.map((s) => [
        s.name,
        {
          idle: bytes(idleRss.get(s) ?? Number.NaN),
          peakUnderLoad: bytes(http.peakRssBytes.get(s) ?? Number.NaN),
        },
      ]),
    ),
  },
  bundle: {
    tool: bundle.tool,
    raw: bytes(bundle.rawBytes),
    gzip: bytes(bundle.gzipBytes),
    limit: bytes(bundle.limitBytes),
    fractionOfLimit: { unit: 'fraction', value: round(bundle.fractionOfLimit, 3) },
    inputBytesByPackage: { unit: 'bytes', ...bundle.inputBytesByPackage },
  },
  adminToken,
  targets,
};
writeFileSync(`${ROOT}bench/results.json`, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(
  `${ROOT}.tmp/bench-tables.md`,
  [
    markdownTable(verifyHeader, verifyRows),
    markdownTable(httpHeader, httpRows),
    markdownTable(rotationHeader, rotationRows),
    markdownTable(['memory and size', 'value'], memoryRows),
    markdownTable(['', 'target', 'measured'], targetRows),
  ].join('\n\n'),
);
log('\nwrote bench/results.json (markdown tables: .tmp/bench-tables.md)');
