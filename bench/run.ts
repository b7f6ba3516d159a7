/**
 * `npm run bench`: Keyward's verify, /verify over HTTP, rotation, the admin token check and memory and size,
 * each against a baseline measured in the same run (SPEC section 7). Runs the cases in bench/cases/ one after
 * the other, judges bench/targets.ts, prints the tables and writes bench/results.json (and the README's tables
 * to .tmp/bench-tables.md). Loopback only; every load is bounded in time.
 *
 *   node bench/run.ts           full run, about three to four minutes on two cores
 *   node bench/run.ts --quick   shorter rounds and fewer calls, to check the harness (figures not comparable)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fmt, markdownTable, table } from '../test/support/figure-format.ts';
import { bunVersion } from '../test/support/tool-versions.ts';
import { measureAdminTokenTiming } from './cases/admin-token-timing.ts';
import { measureHttpVerify } from './cases/http-verify.ts';
import { measureInProcessVerify } from './cases/in-process-verify.ts';
import { measureRotation } from './cases/rotation.ts';
import { measureWorkerBundleSize } from './cases/worker-bundle-size.ts';
import { measureWorkerdVerify } from './cases/workerd-verify.ts';
import type { BenchFigures } from './figures.ts';
import { resultsJson } from './report/results-json.ts';
import { adminTokenTimingTable, benchTables } from './report/tables.ts';
import { createFixture } from './support/fixture.ts';
import { judge } from './targets.ts';

const ROOT = new URL('..', import.meta.url);
const quick = process.argv.includes('--quick');
const started = Date.now();
const loadAtStart = loadavg();
const log = (line: string) => console.log(line);
const loadText = (load: number[]) => load.map((l) => l.toFixed(2)).join(' ');

log(
  `keyward bench${quick ? ' (quick)' : ''}: node ${process.version}, ${cpus().length} cores, load ${loadText(loadAtStart)}`,
);
const fixture = await createFixture();

log('\n[1/5] in-process verify on Node');
const inProcess = await measureInProcessVerify(
  fixture,
  quick ? { rounds: 4, batchMs: 80, warmupMs: 200 } : { rounds: 10, batchMs: 150, warmupMs: 400 },
);
log('[2/5] in-process verify on workerd');
const workerd = await measureWorkerdVerify(
  fixture,
  quick ? { rounds: 4, batchMs: 80, warmupMs: 300 } : { rounds: 8, batchMs: 150, warmupMs: 600 },
);
log('[3/5] HTTP /verify under load');
const http = await measureHttpVerify(
  fixture,
  quick
    ? { connections: 50, warmupSeconds: 1, roundSeconds: 1, rounds: 2 }
    : { connections: 50, warmupSeconds: 1, roundSeconds: 2.5, rounds: 3 },
);
log('[4/5] rotation: RotateSecret against valkey-server, propagation to 1/5/20 node edges');
const rotation = await measureRotation({
  edgeCounts: [1, 5, 20],
  latencyCalls: quick ? 30 : 100,
  rotationsPerCount: quick ? 5 : 15,
  log,
});
log('[5/5] worker bundle size; admin token check timing');
const bundle = await measureWorkerBundleSize();
const adminToken = await measureAdminTokenTiming(
  quick ? { rounds: 60, batchMs: 5, warmupMs: 200 } : { rounds: 200, batchMs: 5, warmupMs: 300 },
);

const figures: BenchFigures = { fixture, inProcess, workerd, http, rotation, bundle, adminToken };
const verdicts = judge(figures);
const tables = benchTables(figures, verdicts);
const loadAtEnd = loadavg();
const durationS = (Date.now() - started) / 1000;
const bun = bunVersion();
const printed = tables.map((t) => table(t.header, t.rows));
printed.splice(-1, 0, adminTokenTimingTable(adminToken));
log(`\n${printed.join('\n\n')}`);
log(
  `\nnode ${process.version}, bun ${bun}, workerd ${workerd.workerdVersion}, valkey ${rotation.valkeyVersion}; ` +
    `${cpus().length} cores; load ${loadText(loadAtStart)} -> ${loadText(loadAtEnd)}; ${fmt(durationS, 0)} s`,
);

const results = resultsJson(figures, verdicts, { quick, bunVersion: bun, loadAtStart, loadAtEnd, durationS });
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
