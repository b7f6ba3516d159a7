import { KeywardError } from './errors.ts';

const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+)(ms|s|m|h|d)?$/;

/** Parses `90d`, `24h`, `300s`, `500ms` or a bare number of seconds into milliseconds. */
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
  if (!Number.isSafeInteger(ms))
    throw new KeywardError('invalid_duration', `duration "${text}" is too large`);
  return ms;
}
