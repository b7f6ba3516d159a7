/**
 * Isolates of one Worker under workerd (test/support/isolate-simulation.ts: two locations of two isolates, the
 * isolates of a location sharing caches.default, the control plane pushing to one isolate only): over repeated
 * emergency rotations, the time from RotateSecret's answer until every isolate refuses the revoked key and
 * verifies the new one, against KEYSET_REVALIDATE and the documented bound of twice it; and the origin's
 * requests per location per interval with every isolate busy and nothing changing. Runnable alone:
 * `node bench/cases/isolate-convergence.ts [--quick]`.
 */
import { fileURLToPath } from 'node:url';
import {
  converge,
  keepBusy,
  refusedAsUnsigned,
  startSimulation,
  verified,
} from '../../test/support/isolate-simulation.ts';
import { newSecret, signToken } from '../../test/support/sign-token.ts';
import { quantile, round } from '../../test/support/stats.ts';

export interface IsolateConvergenceBench {
  locations: number;
  isolatesPerLocation: number;
  revalidateMs: number;
  /** README, "Edge on Cloudflare": 2 x KEYSET_REVALIDATE. */
  documentedBoundMs: number;
  rounds: number;
  /** Per round, the slowest isolate: from RotateSecret's answer until it refused the revoked key. */
  revokedRefused: { p50Ms: number; maxMs: number; overBound: number };
  /** Per round, the slowest isolate: until it verified the new key. */
  newVerified: { p50Ms: number; maxMs: number; overBound: number };
  /** Steady state: the origin's requests per location per KEYSET_REVALIDATE, and the share answered 304. */
  originPerLocationPerInterval: number;
  /** The same without a shared cache: one per isolate per interval. */
  originPerLocationPerIntervalUnshared: number;
  notModifiedShare: number;
}

export async function measureIsolateConvergence(
  options: { rounds?: number; revalidateMs?: number; steadyMs?: number } = {},
): Promise<IsolateConvergenceBench> {
  const { rounds = 8, revalidateMs = 1_000, steadyMs = 10_000 } = options;
  const shape = { locations: 2, isolatesPerLocation: 2 };
  let active = newSecret();
  const simulation = await startSimulation({ ...shape, revalidateMs, firstSecret: active });
  const polling = { gapMs: 50, giveUpMs: 10 * revalidateMs + 10_000 };
  try {
    const { isolates, harness } = simulation;
    // Cold starts (each isolate asks the origin once), before anything is counted.
    for (const isolate of isolates) {
      const started = await converge(
        isolate,
        signToken(active, undefined),
        verified,
        performance.now(),
        polling,
      );
      if (Number.isNaN(started.ms))
        throw new Error(`${isolate.name} never verified: ${JSON.stringify(started.last)}`);
    }

    const from = performance.now();
    await keepBusy(isolates, signToken(active, undefined), steadyMs, polling.gapMs);
    const to = performance.now();
    const counts = Object.values(simulation.originRequests(from, to));
    const requests = counts.reduce((sum, count) => sum + count.requests, 0);
    const notModified = counts.reduce((sum, count) => sum + count.notModified, 0);
    const intervals = (to - from) / revalidateMs;

    const refusedMs: number[] = [];
    const verifiedMs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // A random phase against the isolates' intervals, as a revocation at any moment would have.
      await keepBusy(isolates, signToken(active, undefined), Math.random() * revalidateMs, polling.gapMs);
      const revoked = active;
      active = newSecret();
      await harness.rotate(active, { emergency: true });
      const answeredAt = performance.now();
      const [refused, taken] = await Promise.all([
        Promise.all(
          isolates.map((isolate) =>
            converge(isolate, signToken(revoked, undefined), refusedAsUnsigned, answeredAt, polling),
          ),
        ),
        Promise.all(
          isolates.map((isolate) =>
            converge(isolate, signToken(active, undefined), verified, answeredAt, polling),
          ),
        ),
      ]);
      refusedMs.push(Math.max(...refused.map((result) => result.ms)));
      verifiedMs.push(Math.max(...taken.map((result) => result.ms)));
    }
    const bound = 2 * revalidateMs;
    const summary = (samples: number[]) => ({
      p50Ms: round(quantile(samples, 0.5)),
      maxMs: round(Math.max(...samples)),
      overBound: samples.filter((ms) => !(ms <= bound)).length,
    });
    return {
      ...shape,
      revalidateMs,
      documentedBoundMs: bound,
      rounds,
      revokedRefused: summary(refusedMs),
      newVerified: summary(verifiedMs),
      originPerLocationPerInterval: round(requests / shape.locations / intervals),
      originPerLocationPerIntervalUnshared: shape.isolatesPerLocation,
      notModifiedShare: round(requests === 0 ? 0 : notModified / requests),
    };
  } finally {
    await simulation.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const result = await measureIsolateConvergence(quick ? { rounds: 3, steadyMs: 3_000 } : {});
  const perSecondAt300 = (300 * 1000) / 30_000;
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `every isolate refused the revoked key after p50 ${result.revokedRefused.p50Ms} ms, at most ` +
      `${result.revokedRefused.maxMs} ms (KEYSET_REVALIDATE ${result.revalidateMs} ms, bound ` +
      `${result.documentedBoundMs} ms, ${result.revokedRefused.overBound} of ${result.rounds} rounds over it); ` +
      `origin: ${result.originPerLocationPerInterval} requests per location per interval ` +
      `(${result.originPerLocationPerIntervalUnshared} without the location cache), ` +
      `${Math.round(result.notModifiedShare * 100)}% 304; at 300 locations and 30 s: ${perSecondAt300} per second`,
  );
}
