/**
 * `npm run bench`: Keyward's verify, /verify over HTTP, rotation, the admin token check, keyset sizes and memory
 * and size, each against a baseline measured in the same run (SPEC section 7). Runs the cases in bench/cases/
 * one after the other, judges bench/targets.ts, prints the tables and writes bench/results.json (and the
 * README's tables to .tmp/bench-tables.md). Loopback only; every load is bounded in time.
 *
 *   node bench/run.ts           full run, about twelve minutes on two cores
 *   node bench/run.ts --quick   shorter rounds and fewer calls, to check the harness (figures not comparable)
 *   node bench/run.ts --only=inProcess,workerd
 *                               only those cases (names in bench/figures.ts CASE_NAMES; also BENCH_ONLY=...);
 *                               prints their tables and targets, writes no results.json
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fmt, markdownTable, table } from '../test/support/figure-format.ts';
import { bunVersion } from '../test/support/tool-versions.ts';
import { measureAdminTokenTiming } from './cases/admin-token-timing.ts';
import { measureHttpVerify } from './cases/http-verify.ts';
import { measureInProcessVerify } from './cases/in-process-verify.ts';
import { measureIsolateConvergence } from './cases/isolate-convergence.ts';
import { measureKeysetSize } from './cases/keyset-size.ts';
import { measureMemoryBreakdown } from './cases/memory-breakdown.ts';
import { measurePushFanout } from './cases/push-fanout.ts';
import { measureRevocation } from './cases/revocation-propagation.ts';
import { measureRevocationVerify } from './cases/revocation-verify.ts';
import { measureRotation } from './cases/rotation.ts';
import { measureRuntimeVerify } from './cases/runtime-verify.ts';
import { measureValkeyHa } from './cases/valkey-ha.ts';
import { measureWorkerBundleSize } from './cases/worker-bundle-size.ts';
import { measureWorkerdVerify } from './cases/workerd-verify.ts';
import { type BenchFigures, CASE_NAMES, type CaseName } from './figures.ts';
import { resultsJson } from './report/results-json.ts';
import { adminTokenTimingTable, benchTables } from './report/tables.ts';
import { createFixture } from './support/fixture.ts';
import { judge } from './targets.ts';

const ROOT = new URL('..', import.meta.url);
const quick = process.argv.includes('--quick');
const onlyText =
  process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length) ?? process.env.BENCH_ONLY;
const only = onlyText?.split(',').map((name) => name.trim()) ?? [...CASE_NAMES];
const unknown = only.filter((name) => !CASE_NAMES.includes(name as CaseName));
if (unknown.length > 0) {
  console.error(`unknown bench case(s) ${unknown.join(', ')}; expected some of ${CASE_NAMES.join(', ')}`);
  process.exit(2);
}
const partial = only.length < CASE_NAMES.length;
const runs = (name: CaseName) => only.includes(name);
const started = Date.now();
const loadAtStart = loadavg();
const log = (line: string) => console.log(line);
const loadText = (load: number[]) => load.map((l) => l.toFixed(2)).join(' ');

log(
  `keyward bench${quick ? ' (quick)' : ''}${partial ? ` (only ${only.join(', ')})` : ''}: node ${process.version}, ` +
    `${cpus().length} cores, load ${loadText(loadAtStart)}`,
);
const fixture = await createFixture();
const figures: Partial<BenchFigures> = { fixture };
const steps: { name: CaseName; label: string; measure: () => Promise<void> }[] = [
  {
    name: 'inProcess',
    label: 'in-process verify on Node (HS256, EdDSA, ES256)',
    measure: async () => {
      figures.inProcess = await measureInProcessVerify(
        fixture,
        quick ? { rounds: 4, batchMs: 80, warmupMs: 200 } : { rounds: 10, batchMs: 150, warmupMs: 400 },
      );
    },
  },
  {
    name: 'workerd',
    label: 'in-process verify on workerd (HS256, EdDSA, ES256)',
    measure: async () => {
      figures.workerd = await measureWorkerdVerify(
        fixture,
        quick ? { rounds: 4, batchMs: 80, warmupMs: 300 } : { rounds: 8, batchMs: 150, warmupMs: 600 },
      );
    },
  },
  {
    name: 'runtimeVerify',
    label: 'verify on Node, Bun and Deno: node:crypto against WebCrypto',
    measure: async () => {
      figures.runtimeVerify = await measureRuntimeVerify(
        fixture,
        quick ? { rounds: 4, batchMs: 80, warmupMs: 200 } : { rounds: 8, batchMs: 150, warmupMs: 400 },
      );
    },
  },
  {
    name: 'keysetSize',
    label: 'keyset and envelope bytes per key',
    measure: async () => {
      figures.keysetSize = await measureKeysetSize(8);
    },
  },
  {
    name: 'http',
    label: 'HTTP /verify under load',
    measure: async () => {
      figures.http = await measureHttpVerify(
        fixture,
        quick
          ? {
              connections: 50,
              warmupSeconds: 1,
              roundSeconds: 1,
              rounds: 2,
              rawVerifyTiming: { rounds: 3, batchMs: 50, warmupMs: 100 },
            }
          : {
              connections: 50,
              warmupSeconds: 1,
              roundSeconds: 1,
              rounds: 14,
              rawVerifyTiming: { rounds: 6, batchMs: 100, warmupMs: 300 },
            },
      );
    },
  },
  {
    name: 'rotation',
    label: 'rotation: RotateSecret against valkey-server, propagation to 1/5/20 node edges',
    measure: async () => {
      figures.rotation = await measureRotation({
        edgeCounts: [1, 5, 20],
        latencyCalls: quick ? 30 : 100,
        rotationsPerCount: quick ? 5 : 60,
        pairedRotations: quick ? 10 : 100,
        breakdownCalls: quick ? 30 : 100,
        fanOutRounds: quick ? 10 : 60,
        log,
      });
    },
  },
  {
    name: 'fanout',
    label: 'push at scale: RotateSecret with 1,000 lightweight edges (one listener farm process)',
    measure: async () => {
      figures.fanout = await measurePushFanout({ edges: 1_000, rotations: quick ? 3 : 10, log });
    },
  },
  {
    name: 'revocationPropagation',
    label: 'revocation: RevokeTokens against valkey-server, 20 node edges refusing, 100,000 live revocations',
    measure: async () => {
      figures.revocationPropagation = await measureRevocation({
        edges: 20,
        latencyCalls: quick ? 20 : 100,
        propagationCalls: quick ? 5 : 30,
        batches: 10,
        batchSize: 10_000,
        freshEdgeRounds: quick ? 1 : 3,
        fanOutRounds: quick ? 10 : 60,
        log,
      });
    },
  },
  {
    name: 'bundle',
    label: 'worker bundle size and cold start',
    measure: async () => {
      figures.bundle = await measureWorkerBundleSize(fixture, { coldStartRounds: quick ? 2 : 6 });
    },
  },
  {
    name: 'adminToken',
    label: 'admin token check timing',
    measure: async () => {
      figures.adminToken = await measureAdminTokenTiming(
        quick ? { rounds: 60, batchMs: 5, warmupMs: 200 } : { rounds: 200, batchMs: 5, warmupMs: 300 },
      );
    },
  },
  {
    name: 'isolates',
    label: 'Worker isolates converging through KEYSET_REVALIDATE (workerd, two locations of two isolates)',
    measure: async () => {
      figures.isolates = await measureIsolateConvergence(
        quick ? { rounds: 3, steadyMs: 4_000 } : { rounds: 8, steadyMs: 10_000 },
      );
    },
  },
  {
    name: 'ha',
    label: 'Valkey HA: RotateSecret against standalone, Sentinel and Cluster; failover to the first rotation',
    measure: async () => {
      figures.ha = await measureValkeyHa({ calls: quick ? 30 : 200, failoverRounds: quick ? 1 : 3, log });
    },
  },
  {
    name: 'revocations',
    label: 'revocation at the edge: verify with 0, 1,000 and 100,000 live revocations, memory per 100,000',
    measure: async () => {
      figures.revocations = await measureRevocationVerify(
        fixture,
        // Many short batches: the verifies compared differ by a few per cent, less than this machine's drift
        // over a 150 ms batch, and the closer in time two cases run, the less of that drift their ratio holds.
        quick ? { rounds: 20, batchMs: 10, warmupMs: 200 } : { rounds: 100, batchMs: 20, warmupMs: 400 },
        quick ? 2 : 5,
      );
    },
  },
  {
    name: 'memoryBreakdown',
    label:
      'idle RSS, what it is made of: node:http, the libraries, the Node edge and control plane compiled and from .ts',
    measure: async () => {
      figures.memoryBreakdown = await measureMemoryBreakdown(
        quick ? { settleMs: 800, rounds: 1, log } : { settleMs: 1_500, rounds: 1, log },
      );
    },
  },
];
const chosen = steps.filter((step) => runs(step.name));
for (const [index, step] of chosen.entries()) {
  log(`${index === 0 ? '\n' : ''}[${index + 1}/${chosen.length}] ${step.label}`);
  await step.measure();
}

const verdicts = judge(figures);
const tables = benchTables(figures, verdicts);
const loadAtEnd = loadavg();
const durationS = (Date.now() - started) / 1000;
const bun = bunVersion();
const printed = tables.map((t) => table(t.header, t.rows));
if (figures.adminToken) printed.splice(-1, 0, adminTokenTimingTable(figures.adminToken));
log(`\n${printed.join('\n\n')}`);
const versions = [
  `node ${process.version}`,
  `bun ${bun}`,
  figures.workerd && `workerd ${figures.workerd.workerdVersion}`,
  (figures.rotation ?? figures.ha ?? figures.revocationPropagation) &&
    `valkey ${(figures.rotation ?? figures.ha ?? figures.revocationPropagation)?.valkeyVersion}`,
].filter(Boolean);
log(
  `\n${versions.join(', ')}; ${cpus().length} cores; load ${loadText(loadAtStart)} -> ${loadText(loadAtEnd)}; ` +
    `${fmt(durationS, 0)} s`,
);

if (partial) {
  log('\n--only: bench/results.json left as it was');
} else {
  const complete = figures as BenchFigures;
  const results = resultsJson(complete, verdicts, {
    quick,
    bunVersion: bun,
    loadAtStart,
    loadAtEnd,
    durationS,
  });
  writeFileSync(new URL('bench/results.json', ROOT), `${JSON.stringify(results, null, 2)}\n`);
  mkdirSync(new URL('.tmp/', ROOT), { recursive: true });
  writeFileSync(
    new URL('.tmp/bench-tables.md', ROOT),
    tables
      .filter((t) => t.inReadme)
      .map((t) => markdownTable(t.header, t.rows))
      .join('\n\n'),
  );
  log('\nwrote bench/results.json (markdown tables: .tmp/bench-tables.md)');
}
