/**
 * Which verify primitive is faster on Bun: Keyward's verify with node:crypto (what the Node entry injects)
 * against WebCrypto (what the Bun entry injects), per algorithm, timed inside Bun by bun-primitives-runner.ts.
 * The runner refuses to time a primitive that accepts a bad signature.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../test/support/edge-processes.ts';
import type { Summary } from '../../test/support/stats.ts';
import { BUN } from '../../test/support/tool-versions.ts';
import { ASYMMETRIC_ALGS, type BenchFixture } from '../support/fixture.ts';
import type { CaseTiming, TimingOptions } from '../support/interleaved-timing.ts';
import type { BunPrimitivesSetup } from './bun-primitives-runner.ts';

export interface BunPrimitives {
  timing: TimingOptions;
  cases: CaseTiming[];
  /** Per round, `node:crypto/<alg> / webcrypto/<alg>`: under 1 where node:crypto is faster. */
  ratios: Record<string, Summary>;
}

export async function measureBunPrimitives(
  fixture: BenchFixture,
  timing: TimingOptions,
): Promise<BunPrimitives> {
  const { asymmetric } = fixture;
  const setup: BunPrimitivesSetup = {
    timing,
    algs: [
      {
        alg: 'HS256',
        keyset: fixture.keyset,
        token: fixture.tokens.withKid,
        badSignature: fixture.tokens.badSignature,
      },
      ...ASYMMETRIC_ALGS.map((alg) => ({
        alg,
        keyset: asymmetric.keyset,
        token: asymmetric.tokens[alg],
        badSignature: asymmetric.badSignature[alg],
      })),
    ],
  };
  const run = promisify(execFile)(BUN, [join(ROOT, 'bench/cases/bun-primitives-runner.ts')], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 300_000,
  });
  run.child.stdin?.end(JSON.stringify(setup));
  const { stdout } = await run;
  const answer = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Omit<BunPrimitives, 'timing'>;
  return { timing, ...answer };
}
