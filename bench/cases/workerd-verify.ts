/**
 * One verify in-process on workerd (HS256, EdDSA, ES256): the bench worker (workerd-verify-worker.ts) bundled with esbuild and run under Miniflare (the workerd that
 * wrangler ships). Each request loops N verifies of one case. Timed by the worker's own clock when it advances
 * (local workerd: it does); otherwise from outside, as (request of N verifies - empty request) / N, since on
 * Cloudflare a Worker's clock stands still during pure CPU work.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { type Summary, summarize } from '../../test/support/stats.ts';
import { workerdVersion } from '../../test/support/tool-versions.ts';
import { readWranglerConfig } from '../../test/support/wrangler-config.ts';
import type { BenchFixture } from '../support/fixture.ts';
import { type CaseTiming, ratiosOf, type TimingOptions } from '../support/interleaved-timing.ts';
import type { WorkerSetup } from './workerd-verify-worker.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerdVerify {
  timing: TimingOptions;
  workerdVersion: string;
  compatibilityDate: string;
  base64Decoder: string;
  /** 'worker': performance.now() inside the isolate; 'driver': wall clock around dispatchFetch. */
  clock: 'worker' | 'driver';
  cases: CaseTiming[];
  /** Per-round ratios, `subject / baseline`, keyed by that text. */
  ratios: Record<string, Summary>;
  emptyRequestMs: Summary;
}

/** Times every case of the bench worker in interleaved rounds and derives Keyward's ratios to the baselines. */
export async function measureWorkerdVerify(
  fixture: BenchFixture,
  timing: TimingOptions,
): Promise<WorkerdVerify> {
  const setup: WorkerSetup = {
    keyset: fixture.keyset,
    secrets: [...fixture.secrets].reverse(),
    tokens: fixture.tokens,
    asymmetric: {
      keyset: fixture.asymmetric.keyset,
      tokens: fixture.asymmetric.tokens,
      badSignature: fixture.asymmetric.badSignature,
    },
  };
  const { compatibilityDate } = readWranglerConfig();
  const bundle = await build({
    entryPoints: [`${root}bench/cases/workerd-verify-worker.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    write: false,
    logLevel: 'error',
  });
  const script = bundle.outputFiles[0]?.text as string;
  // Miniflare 5 takes a new options shape; its converter still reads the familiar one.
  const mf = new Miniflare(convertV4MiniflareOptions({ modules: true, script, compatibilityDate }));
  try {
    await mf.ready;
    const base = 'http://bench.local';
    const setupAnswer = (await (
      await mf.dispatchFetch(`${base}/setup`, { method: 'POST', body: JSON.stringify(setup) })
    ).json()) as { cases: string[]; fromBase64: boolean };
    let clock: 'worker' | 'driver' = 'worker';
    /** Milliseconds for N verifies of one case, by the chosen clock. */
    const call = async (name: string, n: number): Promise<{ worker: number; driver: number }> => {
      const start = process.hrtime.bigint();
      const response = await mf.dispatchFetch(`${base}/run?case=${encodeURIComponent(name)}&n=${n}`);
      const body = (await response.json()) as { ok: number; inWorkerMs: number };
      const driver = Number(process.hrtime.bigint() - start) / 1e6;
      if (body.ok !== n)
        throw new Error(`workerd case ${name}: ${body.ok}/${n} verifies gave the expected result`);
      return { worker: body.inWorkerMs, driver };
    };
    const empty = async () => {
      const samples = [];
      for (let i = 0; i < 5; i++) samples.push((await call('keyward', 0)).driver);
      return summarize(samples).median;
    };
    if ((await call('keyward', 200)).worker <= 0) clock = 'driver';
    const elapsed = async (name: string, n: number, overhead: number) => {
      const times = await call(name, n);
      return clock === 'worker' ? times.worker : times.driver - overhead;
    };
    const sizes = new Map<string, number>();
    for (const name of setupAnswer.cases) {
      let n = 64;
      let ms = 0;
      const warmEnd = Date.now() + timing.warmupMs;
      while (Date.now() < warmEnd) {
        ms = await elapsed(name, n, 0);
        if (ms < 20) n *= 2;
      }
      sizes.set(name, Math.max(64, Math.round((n * timing.batchMs) / ms)));
    }
    const perRound = new Map<string, number[]>(setupAnswer.cases.map((name) => [name, []]));
    const emptySamples: number[] = [];
    for (let round = 0; round < timing.rounds; round++) {
      const overhead = await empty();
      emptySamples.push(overhead);
      for (let i = 0; i < setupAnswer.cases.length; i++) {
        const name = setupAnswer.cases[(i + round) % setupAnswer.cases.length] as string;
        const n = sizes.get(name) as number;
        perRound.get(name)?.push(((await elapsed(name, n, overhead)) * 1e6) / n);
      }
    }
    const cases = setupAnswer.cases.map((name) => {
      const samples = perRound.get(name) as number[];
      return { name, perRound: samples, nsPerOp: summarize(samples) };
    });
    return {
      timing,
      workerdVersion: workerdVersion(),
      compatibilityDate,
      base64Decoder: setupAnswer.fromBase64 ? 'Uint8Array.fromBase64' : 'atob',
      clock,
      emptyRequestMs: summarize(emptySamples),
      cases,
      ratios: ratiosOf(cases, [
        ['keyward', 'lower-bound'],
        ['keyward', 'jose-cryptokey'],
        ['keyward/no-kid-4-keys', 'lower-bound/no-kid-4-keys'],
        ['keyward/bad-signature', 'lower-bound/bad-signature'],
        ['keyward/cache-hit', 'lower-bound'],
        ...['eddsa', 'es256'].flatMap((x): [string, string][] => [
          [`keyward/${x}`, `lower-bound/${x}`],
          [`keyward/${x}`, `jose-cryptokey/${x}`],
          [`keyward/${x}/bad-signature`, `lower-bound/${x}/bad-signature`],
        ]),
      ]),
    };
  } finally {
    await mf.dispose();
  }
}
