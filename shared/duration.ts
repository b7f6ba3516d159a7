import { KeywardError } from './errors.ts';

const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(ms|s|m|h|d)?$/;

/**
 * The longest duration taken: 100 years. Anything longer is a typo, and far longer (GRACE_PERIOD=99999999d)
 * pushes `now + duration` past the largest Date, so every rotation would fail with RangeError.
 */
export const MAX_DURATION_MS = 36_500 * 86_400_000;

/** Parses `90d`, `24h`, `300s`, `500ms` or a bare number of seconds into milliseconds, at most 100 years. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new KeywardError(
      'invalid_duration',
      `expected a duration such as 90d, 24h, 300s, 500ms or seconds, got "${text}"`,
    );
  }
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = amount * (UNITS_MS[unit] as number);
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS)
    throw new KeywardError('invalid_duration', `duration "${text}" is too long: at most 36500d (100 years)`);
  return ms;
}
