/**
 * Interleaved micro-benchmark rounds: every case runs once per round, in a rotating order, so drift on a
 * noisy machine hits all cases alike and per-round ratios stay meaningful.
 */
import { type Summary, summarize } from '../../test/support/stats.ts';

export interface TimedCase {
  name: string;
  /** One operation; its result is checked once before timing and kept alive during it. */
  run: () => unknown;
  /** Awaited per call (promise-returning APIs). */
  async: boolean;
  /** Must hold for the result of one call, or the case is broken and the bench stops. */
  check: (result: unknown) => boolean;
}

export interface TimingOptions {
  rounds: number;
  /** Target duration of one batch (one case in one round). */
  batchMs: number;
  warmupMs: number;
  /**
   * Time the process's CPU (user + system, every thread: a thread pool's work counts) instead of the wall clock:
   * a figure that compares with a server's CPU per request, and that other processes on a busy machine do not
   * inflate by taking the core away (the wall clock counts that time too).
   */
  cpu?: boolean;
}

export interface CaseTiming {
  name: string;
  /** Nanoseconds per operation, one sample per round. */
  perRound: number[];
  nsPerOp: Summary;
}

type Loop = (run: () => unknown, n: number) => number | Promise<number>;

// A fresh function per case (not a shared closure), so each loop's call site stays monomorphic.
function makeLoop(isAsync: boolean): Loop {
  const body = isAsync
    ? 'return async function loop(run, n) { let sink = 0; for (let i = 0; i < n; i++) { if (await run()) sink++; } return sink; }'
    : 'return function loop(run, n) { let sink = 0; for (let i = 0; i < n; i++) { if (run()) sink++; } return sink; }';
  return new Function(body)() as Loop;
}

async function timeBatch(loop: Loop, run: () => unknown, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  await loop(run, n);
  return Number(process.hrtime.bigint() - start);
}

/** Nanoseconds of process CPU time (µs resolution: batches are sized to tens of ms). */
async function cpuBatch(loop: Loop, run: () => unknown, n: number): Promise<number> {
  const start = process.cpuUsage();
  await loop(run, n);
  const used = process.cpuUsage(start);
  return (used.user + used.system) * 1000;
}

export async function timeCases(cases: readonly TimedCase[], options: TimingOptions): Promise<CaseTiming[]> {
  const prepared = [];
  for (const c of cases) {
    const result = await c.run();
    if (!c.check(result))
      throw new Error(`bench case ${c.name}: unexpected result ${JSON.stringify(result)}`);
    const loop = makeLoop(c.async);
    // Warm up (lets the JIT settle), then size the batch from the warm speed.
    let n = 16;
    let elapsed = 0;
    const warmEnd = Date.now() + options.warmupMs;
    while (Date.now() < warmEnd) {
      elapsed = await timeBatch(loop, c.run, n);
      if (elapsed < 20e6) n *= 2;
    }
    const perOp = elapsed / n;
    const iterations = Math.max(16, Math.round((options.batchMs * 1e6) / perOp));
    prepared.push({ c, loop, iterations, perRound: [] as number[] });
  }
  const time = options.cpu === true ? cpuBatch : timeBatch;
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[(i + round) % prepared.length] as (typeof prepared)[number];
      p.perRound.push((await time(p.loop, p.c.run, p.iterations)) / p.iterations);
    }
  }
  return prepared.map((p) => ({ name: p.c.name, perRound: p.perRound, nsPerOp: summarize(p.perRound) }));
}

/** Per-round ratio `subject / baseline` (both from the same rounds), summarized. */
export function ratioOf(subject: CaseTiming, baseline: CaseTiming): Summary {
  return summarize(subject.perRound.map((ns, i) => ns / (baseline.perRound[i] as number)));
}

/** The case called `name`; a missing one is a broken bench. */
export function caseNamed(cases: readonly CaseTiming[], name: string): CaseTiming {
  const found = cases.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no bench case ${name}`);
  return found;
}

/** Per-round ratios for each `[subject, baseline]` pair, keyed `subject / baseline`. */
export function ratiosOf(
  cases: readonly CaseTiming[],
  pairs: readonly (readonly [string, string])[],
): Record<string, Summary> {
  return Object.fromEntries(
    pairs.map(([subject, baseline]) => [
      `${subject} / ${baseline}`,
      ratioOf(caseNamed(cases, subject), caseNamed(cases, baseline)),
    ]),
  );
}
