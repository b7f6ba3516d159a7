/**
 * `npm run soak`: the edges' /verify under sustained load for SOAK_DURATION (10m) while the control plane
 * rotates the secret every SOAK_ROTATE_EVERY (3s) over real gRPC, against a real valkey-server. Each token sent
 * is valid when sent, so every answer must be 200 with the signing key's kid; then an emergency rotation must
 * make the old tokens fail at every edge at once. RSS of the control plane and of each edge is sampled from
 * /proc throughout. Prints a table, writes test/soak/soak-results.json, and exits 1 if any request failed or was
 * lost. Loopback only; the load generator (autocannon, in this process) is pinned apart from the servers
 * with taskset when there are two cores or more.
 *
 *   SOAK_DURATION=2m npm run soak
 *   SOAK_EDGES=node,workerd,bun  SOAK_CONNECTIONS=8 (per edge)  SOAK_GRACE=60s  SOAK_SAMPLE_EVERY=5s
 *   SOAK_WARMUP=(a quarter of the duration, at most 60s)
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { type ControlPlaneProcess, startControlPlaneProcess } from '../support/control-plane-process.ts';
import { cpuSplit, pinProcess } from '../support/cpu-affinity.ts';
import {
  type EdgeProcess,
  type EdgeRuntime,
  ROOT,
  startBunEdge,
  startNodeEdge,
  startWorkerdEdge,
} from '../support/edge-processes.ts';
import { fmt, type Row, table } from '../support/figure-format.ts';
import { freePort } from '../support/free-port.ts';
import {
  type EdgeUnderLoad,
  type RotationRecord,
  rotateAndFeed,
  signGeneration,
  startVerifyLoad,
  TokenPool,
  totalOf,
  type UnexpectedAnswer,
  unexpectedAnswers,
  type VerifyLoad,
} from '../support/rotation-load.ts';
import { newSecret } from '../support/sign-token.ts';
import { quantile, round } from '../support/stats.ts';
import { bunVersion as readBunVersion, valkeyVersion } from '../support/tool-versions.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { sleep } from '../support/wait-for.ts';
import { MemoryWatch } from './memory-watch.ts';
import { readSoakSettings } from './soak-settings.ts';

const RESULTS_FILE = join(ROOT, 'test/soak/soak-results.json');
const START_TOKENS = 200;
const TOKENS_PER_KEY = 10;
const PROGRESS_EVERY_MS = 30_000;
const RPC_DEADLINE_MS = 30_000;
const log = (line: string) => console.log(line);

const { durationMs, rotateEveryMs, graceMs, sampleEveryMs, warmupMs, connections, runtimes, retireMarginMs } =
  readSoakSettings();
const starters: Record<EdgeRuntime, typeof startNodeEdge> = {
  node: startNodeEdge,
  workerd: startWorkerdEdge,
  bun: startBunEdge,
};

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const split = cpuSplit();
const started = Date.now();
const loadAtStart = loadavg();
log(
  `keyward soak: ${fmt(durationMs / 60_000, 1)} min of load on ${runtimes.join(', ')} edges, a rotation every ` +
    `${fmt(rotateEveryMs / 1000, 1)} s (grace ${fmt(graceMs / 1000, 0)} s), ${connections} connections per edge; ` +
    `node ${process.version}, ${cpus().length} cores, load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}; ` +
    (split
      ? `servers on cpu ${split.servers}, load generator on cpu ${split.loader}`
      : 'not pinned (no taskset or one core)'),
);

let stopping = false;
const loads: VerifyLoad[] = [];
let valkey: ValkeyServer | undefined;
let controlPlane: ControlPlaneProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      // A second signal: no more waiting. The edges and the control plane go with managed-process's exit
      // hook; valkey-server is a plain child.
      void valkey?.kill();
      process.exit(130);
    }
    stopping = true;
    log(`\n${signal}: stopping the load and every process (again to exit at once)`);
    for (const load of loads) load.stop();
  });
}

// Everything spawned from here inherits the servers' cores; this process moves to the loader's core after.
if (split) pinProcess(process.pid, split.servers);
const keysetKey = randomBytes(32).toString('base64url');
const edges: EdgeProcess[] = [];
let exitCode = 1;
try {
  valkey = await startValkey();
  const ports = runtimes.map(() => 0);
  for (const index of ports.keys()) ports[index] = await freePort();
  const edgeUrls = ports.map((port) => `http://127.0.0.1:${port}`);
  controlPlane = await startControlPlaneProcess({
    valkeyUrl: valkey.url,
    keysetKey,
    edgeUrls,
    gracePeriod: `${graceMs}ms`,
  });
  const keysetUrl = controlPlane.keysetUrl;
  const startedEdges = await Promise.allSettled(
    runtimes.map((name, index) => starters[name]({ keysetKey, keysetUrl, port: ports[index] as number })),
  );
  for (const result of startedEdges) if (result.status === 'fulfilled') edges.push(result.value);
  const failedStart = startedEdges.find((result) => result.status === 'rejected');
  if (failedStart) throw (failedStart as PromiseRejectedResult).reason;
  if (split) pinProcess(process.pid, split.loader);
  const cp = controlPlane;
  const rotate = (secret: string, emergency = false) =>
    withDeadline(cp.rotate({ new_secret: secret, emergency }), RPC_DEADLINE_MS, 'RotateSecret');

  // The key active when the load starts is one whose secret the soak knows.
  const startSecret = newSecret();
  const underLoad: EdgeUnderLoad[] = edges.map((edge) => ({
    name: edge.runtime,
    url: edge.url,
    pool: new TokenPool(),
  }));
  const first = await rotateAndFeed({
    rotate: (secret) => rotate(secret),
    secret: startSecret,
    generation: 0,
    edges: underLoad,
    tokensPerKey: START_TOKENS,
    catchUpMs: 30_000,
  });

  const memoryWatch = new MemoryWatch(cp.process.child.pid, edges);
  const loadStartedAt = Date.now();
  const sample = (afterLoad = false) => memoryWatch.sample(afterLoad);
  const samples = memoryWatch.samples;

  for (const edge of underLoad) {
    loads.push(
      startVerifyLoad(edge, {
        connections,
        maxSeconds: Math.ceil(durationMs / 1000) + 120,
        timeoutSeconds: 10,
      }),
    );
  }
  sample();
  const sampler = setInterval(() => sample(), sampleEveryMs);
  const pruner = setInterval(() => {
    for (const edge of underLoad) edge.pool.prune();
  }, 250);
  let loadEnded = false;
  void Promise.allSettled(loads.map((load) => load.done)).then(() => {
    loadEnded = true;
  });

  const records: RotationRecord[] = [first];
  const rotationErrors: string[] = [];
  const loadEndsAt = loadStartedAt + durationMs;
  let nextProgress = loadStartedAt + PROGRESS_EVERY_MS;
  let nextRotation = loadStartedAt + rotateEveryMs;
  let generation = 0;
  // Until the load's end (or a signal), in steps of at most a quarter second so that a signal is heard; the
  // step count is capped as well, in case the clock misbehaves.
  const maxSteps = Math.ceil(durationMs / 50) + 1_000;
  for (let step = 0; step < maxSteps && !stopping && !loadEnded; step++) {
    const now = Date.now();
    if (now >= loadEndsAt) break;
    if (now < nextRotation || now >= loadEndsAt - rotateEveryMs / 2) {
      await sleep(Math.max(1, Math.min(250, nextRotation - now, loadEndsAt - now)));
      continue;
    }
    nextRotation += rotateEveryMs;
    generation++;
    try {
      const record = await rotateAndFeed({
        rotate: (secret) => rotate(secret),
        secret: newSecret(),
        generation,
        edges: underLoad,
        tokensPerKey: TOKENS_PER_KEY,
        catchUpMs: 30_000,
      });
      records.push(record);
      // The superseded key expires no earlier than grace after this call began.
      for (const edge of underLoad) {
        edge.pool.retire(generation - 1, record.calledAtMs + graceMs - retireMarginMs);
      }
    } catch (error) {
      rotationErrors.push(`rotation ${generation}: ${(error as Error).message}`);
      if (rotationErrors.length >= 5) break;
    }
    if (Date.now() >= nextProgress) {
      nextProgress += PROGRESS_EVERY_MS;
      const total = totalOf(loads.map((load) => load.tally));
      const latest = samples.at(-1)?.rss ?? {};
      log(
        `  ${fmt((Date.now() - loadStartedAt) / 1000, 0)} s: ${records.length - 1} rotations, ${total.verified} verified, ` +
          `${total.wrong} wrong, ${total.transport} lost; RSS ${Object.entries(latest)
            .map(([name, bytes]) => `${name} ${fmt(bytes / 1048576, 1)} MiB`)
            .join(', ')}`,
      );
    }
  }
  for (const load of loads) load.stop();
  const results = await Promise.all(loads.map((load) => load.done));
  const loadSeconds = (Date.now() - loadStartedAt) / 1000;
  clearInterval(sampler);
  clearInterval(pruner);
  sample(true);

  // Emergency rotation: every token still in a pool is of a key in grace; all must be refused at once.
  let emergency: { refusedChecked: number; unexpected: UnexpectedAnswer[]; error?: string } = {
    refusedChecked: 0,
    unexpected: [],
  };
  if (!stopping) {
    try {
      const emergencySecret = newSecret();
      const answer = await rotate(emergencySecret, true);
      const unconfirmed = answer.edges.filter((edge) => !edge.confirmed).map((edge) => edge.url);
      const oldTokens = [
        ...new Map(
          underLoad.flatMap((edge) => edge.pool.all()).map((token) => [token.token, token]),
        ).values(),
      ];
      const refused = await unexpectedAnswers(underLoad, oldTokens, 'refused');
      const accepted = await unexpectedAnswers(
        underLoad,
        await signGeneration(emergencySecret, -1, 4, 2),
        'verified',
      );
      emergency = {
        refusedChecked: refused.checked,
        unexpected: [...refused.unexpected, ...accepted.unexpected],
        error: unconfirmed.length > 0 ? `pushes not confirmed: ${unconfirmed.join(', ')}` : undefined,
      };
    } catch (error) {
      emergency.error = (error as Error).message;
    }
  }

  // Figures.
  const memory = memoryWatch.figures(warmupMs);
  const tallies = loads.map((load) => load.tally);
  const total = totalOf(tallies);
  const failedByReason: Record<string, number> = {};
  for (const load of loads) {
    for (const [reason, count] of [
      ...Object.entries(load.tally.wrong),
      ...Object.entries(load.tally.transport),
    ]) {
      const key = `${load.edge.name}: ${reason}`;
      failedByReason[key] = (failedByReason[key] ?? 0) + count;
    }
  }
  const rotations = records.slice(1);
  const rpcMs = rotations.map((record) => record.rpcMs);
  const unconfirmedPushes = rotations.flatMap((record) =>
    record.unconfirmed.map((edge) => `${edge} v${record.version}`),
  );
  // Requests still in flight when the load stopped go unanswered (one per connection at most); any more were
  // lost without autocannon noticing.
  const lostSilently = loads.reduce((sum, load) => {
    const transport = Object.values(load.tally.transport).reduce((a, b) => a + b, 0);
    return sum + Math.max(0, load.tally.sent - load.tally.answered - transport - connections);
  }, 0);
  const failed = total.wrong + total.transport + lostSilently;
  const passed =
    failed === 0 &&
    rotationErrors.length === 0 &&
    emergency.unexpected.length === 0 &&
    emergency.error === undefined &&
    !stopping;
  exitCode = passed ? 0 : 1;

  const bunVersion = runtimes.includes('bun') ? readBunVersion() : undefined;
  const loadAtEnd = loadavg();
  const result = {
    date: new Date().toISOString(),
    verdict: passed ? 'pass' : 'fail',
    runtime: {
      node: process.version,
      bun: bunVersion,
      valkey: valkeyVersion(),
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      pinning: split ?? 'none',
      loadAverage1m: {
        unit: 'runnable processes',
        atStart: round(loadAtStart[0] ?? 0, 3),
        atEnd: round(loadAtEnd[0] ?? 0, 3),
      },
    },
    config: {
      duration: { unit: 's', value: round(durationMs / 1000, 6) },
      rotateEvery: { unit: 's', value: round(rotateEveryMs / 1000, 6) },
      gracePeriod: { unit: 's', value: round(graceMs / 1000, 6) },
      retireBeforeGraceEnds: { unit: 's', value: round(retireMarginMs / 1000, 6) },
      sampleEvery: { unit: 's', value: round(sampleEveryMs / 1000, 6) },
      warmup: { unit: 's', value: round(warmupMs / 1000, 6) },
      edges: runtimes,
      connectionsPerEdge: connections,
      methods: 'POST /verify (JSON body) and GET /verify (Bearer), alternating',
      tokens: `${START_TOKENS} of the start key, ${TOKENS_PER_KEY} per new key (1 in 10 without kid); 30% of requests use the newest key`,
    },
    load: { unit: 's', value: round(loadSeconds, 6) },
    requests: {
      served: { unit: 'requests', value: total.verified },
      perSecond: { unit: 'req/s', value: round(total.verified / loadSeconds, 4) },
      sent: { unit: 'requests', value: total.sent },
      failed: { unit: 'requests', value: failed, byReason: failedByReason },
      inFlightAtStop: { unit: 'requests', value: total.sent - total.answered },
      perEdge: Object.fromEntries(
        loads.map((load, index) => [
          load.edge.name,
          {
            served: { unit: 'requests', value: load.tally.verified },
            post: { unit: 'requests', value: load.tally.verifiedByMethod.POST },
            get: { unit: 'requests', value: load.tally.verifiedByMethod.GET },
            perSecond: { unit: 'req/s', value: round(load.tally.verified / loadSeconds, 4) },
            latency: {
              unit: 'ms',
              p50: results[index]?.latency.p50,
              p99: results[index]?.latency.p99,
              max: results[index]?.latency.max,
            },
            keysServed: load.tally.verifiedByGeneration.size,
            firstWrong: load.tally.firstWrong,
          },
        ]),
      ),
    },
    rotations: {
      survived: { unit: 'rotations', value: rotations.length },
      failed: rotationErrors,
      pushesUnconfirmedInAnswer: unconfirmedPushes,
      rotateSecret: {
        unit: 'ms',
        p50: round(quantile(rpcMs, 0.5)),
        p99: round(quantile(rpcMs, 0.99)),
        max: round(Math.max(...rpcMs)),
      },
      finalKeysetVersion: records.at(-1)?.version,
    },
    emergency: {
      oldTokensRefusedAtEveryEdge: emergency.unexpected.length === 0 && emergency.error === undefined,
      requestsChecked: { unit: 'requests', value: emergency.refusedChecked },
      unexpected: emergency.unexpected.slice(0, 20),
      error: emergency.error,
    },
    memory: {
      ...memory,
      series: samples.map((entry) => ({
        atS: round(entry.atMs / 1000, 4),
        afterLoad: entry.afterLoad || undefined,
        rssKiB: Object.fromEntries(Object.entries(entry.rss).map(([name, bytes]) => [name, bytes / 1024])),
      })),
    },
    lost: { unit: 'requests', value: failed },
    durationTotal: { unit: 's', value: round((Date.now() - started) / 1000, 4) },
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(result, null, 2)}\n`);
  // In the project's own JSON style, so that `npm run lint` (biome check .) stays clean with it committed.
  spawnSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', RESULTS_FILE], { stdio: 'ignore' });

  const rows: Row[] = [
    ['load', `${fmt(loadSeconds, 0)} s on ${runtimes.join(', ')}`],
    ['requests served during rotations', fmt(total.verified, 0)],
    ...loads.map(
      (load): Row => [
        `  ${load.edge.name} (POST / GET, req/s)`,
        `${fmt(load.tally.verifiedByMethod.POST, 0)} / ${fmt(load.tally.verifiedByMethod.GET, 0)}, ${fmt(load.tally.verified / loadSeconds, 0)}`,
      ],
    ),
    ['requests failed', fmt(failed, 0)],
    ...Object.entries(failedByReason).map(([reason, count]): Row => [`  ${reason}`, fmt(count, 0)]),
    ['rotations survived', `${rotations.length} (${rotationErrors.length} RotateSecret errors)`],
    [
      'RotateSecret p50 / p99 / max',
      `${fmt(quantile(rpcMs, 0.5), 1)} / ${fmt(quantile(rpcMs, 0.99), 1)} / ${fmt(Math.max(...rpcMs), 1)} ms`,
    ],
    ['pushes unconfirmed in the answer', String(unconfirmedPushes.length)],
    [
      'emergency rotation: old tokens refused',
      emergency.error ??
        (emergency.unexpected.length === 0
          ? `yes (${emergency.refusedChecked} requests)`
          : `NO (${emergency.unexpected.length} accepted or wrong)`),
    ],
    ['lost', fmt(failed, 0)],
  ];
  // wrangler dev reloads the worker when a source file changes: a new workerd without the pushed keyset.
  for (const [name, pids] of memoryWatch.pidsSeen) {
    if (pids.size > 1) rows.push([`process replaced during the run`, `${name} (${pids.size} pids)`]);
  }
  const memoryRows: Row[] = Object.entries(memory).map(([name, figures]) => [
    name,
    fmt(figures.start / 1024, 1),
    fmt(figures.end / 1024, 1),
    fmt(figures.max / 1024, 1),
    fmt(figures.slopeAfterWarmup.value, 0),
    fmt(figures.peakGrowthAfterWarmup.value / 1024, 1),
  ]);
  log(`\n${table(['soak', 'value'], rows)}`);
  log(
    `\n${table(
      [
        'RSS (MiB)',
        'start',
        'end',
        'max',
        `KiB/min after ${fmt(warmupMs / 1000, 0)} s`,
        'peak growth, 2nd half - 1st half',
      ],
      memoryRows,
    )}`,
  );
  log(
    `\nnode ${process.version}${bunVersion ? `, bun ${bunVersion}` : ''}, valkey ${valkeyVersion()}; ${cpus().length} cores; ` +
      `load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} -> ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}; ` +
      `${passed ? 'PASS' : 'FAIL'}; wrote test/soak/soak-results.json`,
  );
} catch (error) {
  console.error(`soak: ${(error as Error).stack ?? error}`);
  exitCode = 1;
} finally {
  for (const load of loads) load.stop();
  await Promise.allSettled(loads.map((load) => load.done));
  await Promise.allSettled(edges.map((edge) => edge.stop()));
  await controlPlane?.stop().catch(() => undefined);
  await valkey?.stop().catch(() => undefined);
}
process.exit(exitCode);
