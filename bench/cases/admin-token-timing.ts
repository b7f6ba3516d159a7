/**
 * Does the admin token check take longer the more of the token a guess gets right? Times AdminAuth.check (as
 * the gRPC service calls it) for guesses matching none, half, and all but the last character of the token,
 * and the token itself, in interleaved rounds. A leaky early-exit comparison is timed the same way, as a
 * control that the method can see a difference of that size. Run alone, this file prints its table.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AdminAuth } from '../../control-plane/src/admin-auth.ts';
import type { ControlPlaneError } from '../../control-plane/src/errors.ts';
import { round, roundSummary, type Summary } from '../../test/support/stats.ts';
import { adminTokenTimingTable } from '../report/tables.ts';
import {
  caseNamed,
  ratioOf,
  type TimedCase,
  type TimingOptions,
  timeCases,
} from '../support/interleaved-timing.ts';

export interface AdminTokenCase {
  name: string;
  /** Leading characters the guess shares with the token. */
  matched: number;
  nsPerOp: Summary & { unit: 'ns/op' };
  /** Per-round ratio to the guess matching nothing. */
  ratioToNone: Summary & { unit: 'ratio' };
}

export interface AdminTokenTiming {
  tokenLength: number;
  cases: AdminTokenCase[];
  /** Max / min of the wrong guesses' medians: 1.0 when timing does not depend on how much matched. */
  wrongGuessesMaxOverMin: { value: number; unit: 'ratio' };
  /** Max - min of the wrong guesses' medians. */
  wrongGuessesMaxMinusMin: { value: number; unit: 'ns/op' };
  /** The same max / min over each guess's fastest round: the figure least disturbed by other processes. */
  wrongGuessesFastestMaxOverMin: { value: number; unit: 'ratio' };
  /** The right token over the guess matching nothing (success skips the failure bookkeeping). */
  rightOverNone: Summary & { unit: 'ratio' };
  /**
   * Control: the guess matching nothing timed as a second, separate case, over the first. Its distance from
   * 1.0 is this run's noise floor: the wrong guesses' ratios mean something only beyond it.
   */
  sameGuessTwice: Summary & { unit: 'ratio' };
  /** Control: an early-exit character loop, all-but-last over nothing matched. Far from 1.0 if it leaks. */
  leakyControl: { allButLastOverNone: Summary & { unit: 'ratio' }; addedNs: number; unit: 'ns/op' };
}

const PEER = '192.0.2.7';

/** A string of `token`'s length sharing exactly its first `matched` characters. */
function guess(token: string, matched: number): string {
  const rest = [...token.slice(matched)].map((c) => (c === 'A' ? 'B' : 'A')).join('');
  return token.slice(0, matched) + rest;
}

/** What a naive implementation would do: stop at the first differing character. */
function leakyEquals(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

const withUnit = <U extends string>(summary: Summary, unit: U) => ({ ...roundSummary(summary), unit });

/** Times the check for each guess in interleaved rounds, with the two controls. */
export async function measureAdminTokenTiming(
  options: TimingOptions = { rounds: 200, batchMs: 5, warmupMs: 300 },
): Promise<AdminTokenTiming> {
  const token = randomBytes(48).toString('base64url'); // 64 characters, as ADMIN_TOKEN requires at least
  // The per-peer brake would lock the peer out after 5 failures and stop comparing; lift it so every call
  // reaches the comparison. Everything else is the server's code path.
  const auth = new AdminAuth(token, { maxFailures: Number.POSITIVE_INFINITY });
  const guesses = [
    { name: 'nothing matched', matched: 0 },
    { name: 'half matched', matched: token.length / 2 },
    { name: 'all but the last', matched: token.length - 1 },
    { name: 'right token', matched: token.length },
  ].map((g) => ({ ...g, candidate: g.matched === token.length ? token : guess(token, g.matched) }));
  const again = { name: 'nothing matched, again', matched: 0, candidate: guess(token, 0) };

  const cases: TimedCase[] = [...guesses, again].map(({ name, candidate, matched }) => ({
    name,
    async: false,
    run: () => {
      try {
        auth.check(PEER, candidate);
        return 'ok';
      } catch (error) {
        return (error as ControlPlaneError).code;
      }
    },
    check: (result) => result === (matched === token.length ? 'ok' : 'permission_denied'),
  }));
  const leaky: TimedCase[] = [0, token.length - 1].map((matched) => {
    const candidate = guess(token, matched);
    return {
      name: `leaky, ${matched} matched`,
      async: false,
      run: () => !leakyEquals(candidate, token),
      check: (result) => result === true,
    };
  });

  const timings = await timeCases([...cases, ...leaky], options);
  const byName = (name: string) => caseNamed(timings, name);
  const none = byName('nothing matched');
  const wrongTimings = guesses.filter((g) => g.matched < token.length).map((g) => byName(g.name).nsPerOp);
  const wrong = wrongTimings.map((t) => t.median);
  const fastest = wrongTimings.map((t) => t.min);
  const leakyNone = byName('leaky, 0 matched');
  const leakyAll = byName(`leaky, ${token.length - 1} matched`);
  return {
    tokenLength: token.length,
    cases: guesses.map((g) => ({
      name: g.name,
      matched: g.matched,
      nsPerOp: withUnit(byName(g.name).nsPerOp, 'ns/op'),
      ratioToNone: withUnit(ratioOf(byName(g.name), none), 'ratio'),
    })),
    wrongGuessesMaxOverMin: { value: round(Math.max(...wrong) / Math.min(...wrong)), unit: 'ratio' },
    wrongGuessesMaxMinusMin: { value: round(Math.max(...wrong) - Math.min(...wrong)), unit: 'ns/op' },
    wrongGuessesFastestMaxOverMin: {
      value: round(Math.max(...fastest) / Math.min(...fastest)),
      unit: 'ratio',
    },
    rightOverNone: withUnit(ratioOf(byName('right token'), none), 'ratio'),
    sameGuessTwice: withUnit(ratioOf(byName(again.name), none), 'ratio'),
    leakyControl: {
      allButLastOverNone: withUnit(ratioOf(leakyAll, leakyNone), 'ratio'),
      addedNs: round(leakyAll.nsPerOp.median - leakyNone.nsPerOp.median),
      unit: 'ns/op',
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const result = await measureAdminTokenTiming(
    quick ? { rounds: 10, batchMs: 30, warmupMs: 150 } : undefined,
  );
  console.log(adminTokenTimingTable(result));
}
