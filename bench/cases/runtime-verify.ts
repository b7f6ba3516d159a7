/**
 * One verify in-process on Node, Bun and Deno, each timed inside its own runtime by runtime-verify-runner.ts:
 * which primitive is faster there (node:crypto, WebCrypto, or for HS256 an HMAC in JavaScript), for Keyward's
 * verifyToken and for the hand-written lower bound, per algorithm. The HTTP case reads the lower bounds from here
 * for its floors.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../../test/support/edge-entry-commands.ts';
import type { Summary } from '../../test/support/stats.ts';
import { ASYMMETRIC_ALGS, type BenchFixture } from '../support/fixture.ts';
import { type CaseTiming, ratiosOf, type TimingOptions } from '../support/interleaved-timing.ts';
import { rawSpecsOf } from '../support/raw-node-verify.ts';
import type { RuntimeVerifySetup, VerifyKind } from './runtime-verify-runner.ts';

export type Runtime = 'node' | 'bun' | 'deno';
export const RUNTIMES: readonly Runtime[] = ['node', 'bun', 'deno'];

export interface RuntimeVerify {
  timing: TimingOptions;
  /**
   * By runtime: `<kind>/<alg>` cases (kind raw-node, raw-web, keyward-node, keyward-web; alg hs256, ...; for
   * hs256 also raw-js and keyward-js, the HMAC in JavaScript).
   */
  cases: Record<string, CaseTiming[]>;
  /**
   * By runtime, per round: `keyward-node/<alg> / keyward-web/<alg>` (under 1 where node:crypto is faster) and
   * `raw-node/<alg> / raw-web/<alg>`.
   */
  ratios: Record<string, Record<string, Summary>>;
}

/** The algorithms of the bench fixture as the runner takes them: HS256, EdDSA, ES256. */
export function runnerAlgs(fixture: BenchFixture, algs: readonly string[] = ['HS256', ...ASYMMETRIC_ALGS]) {
  const { asymmetric } = fixture;
  const all: RuntimeVerifySetup['algs'] = [
    {
      alg: 'HS256',
      keyset: fixture.keyset,
      raw: [...fixture.secrets].reverse(),
      token: fixture.tokens.withKid,
      badSignature: fixture.tokens.badSignature,
    },
    ...ASYMMETRIC_ALGS.map((alg) => ({
      alg,
      keyset: asymmetric.keyset,
      raw: rawSpecsOf(asymmetric.keyset.keys),
      token: asymmetric.tokens[alg],
      badSignature: asymmetric.badSignature[alg],
    })),
  ];
  return all.filter((a) => algs.includes(a.alg));
}

/** Times `setup` inside `runtime` (a child process running runtime-verify-runner.ts). */
export async function timeOnRuntime(runtime: Runtime, setup: RuntimeVerifySetup): Promise<CaseTiming[]> {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-runtime-verify-'));
  try {
    const file = join(dir, 'setup.json');
    writeFileSync(file, JSON.stringify(setup));
    // The flags each edge entry runs with, the entry file replaced by the runner.
    const [command, ...prefix] = EDGE_ENTRY_COMMANDS[runtime] as [string, ...string[]];
    const args = [...prefix.slice(0, -1), 'bench/cases/runtime-verify-runner.ts'];
    const { stdout } = await promisify(execFile)(command, args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BENCH_SETUP: file },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 300_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1) as string) as CaseTiming[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const KINDS: VerifyKind[] = ['raw-node', 'raw-web', 'raw-js', 'keyward-node', 'keyward-web', 'keyward-js'];

export async function measureRuntimeVerify(
  fixture: BenchFixture,
  timing: TimingOptions,
): Promise<RuntimeVerify> {
  const algs = runnerAlgs(fixture);
  const cases: Record<string, CaseTiming[]> = {};
  const ratios: Record<string, Record<string, Summary>> = {};
  for (const runtime of RUNTIMES) {
    const timings = await timeOnRuntime(runtime, { timing, kinds: KINDS, algs });
    cases[runtime] = timings;
    ratios[runtime] = ratiosOf(
      timings,
      algs.flatMap(({ alg }): [string, string][] => {
        const x = alg.toLowerCase();
        return [
          [`keyward-node/${x}`, `keyward-web/${x}`],
          [`raw-node/${x}`, `raw-web/${x}`],
        ];
      }),
    );
  }
  return { timing, cases, ratios };
}
