/**
 * When scheduled rotation is due: ROTATION_INTERVAL after the active key's creation, so a restart does not
 * reset the clock. With ROTATION_LEAD the next key is staged that long before it is due and promoted when due
 * (never sooner than ROTATION_LEAD after it was staged); without it the rotation is one step, as RotateSecret.
 */
import { findActiveKey, findStandbyKey, type Keyset, rotateKeyset } from '../../../shared/keyset.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';
import { newKey } from './new-key.ts';

/** Milliseconds until `keyset` is due for rotation every `intervalMs` (zero or less: due; no active key: due). */
export function msUntilRotationDue(keyset: Keyset, intervalMs: number, now: Date): number {
  const active = findActiveKey(keyset);
  return active ? Date.parse(active.created_at) + intervalMs - now.getTime() : 0;
}

/** ROTATION_INTERVAL and ROTATION_LEAD in milliseconds; `leadMs` 0 is the one-step rotation. */
export interface RotationTiming {
  intervalMs: number;
  leadMs: number;
}

/**
 * The schedule's next step for `keyset` and when it falls:
 * - `rotate` (no lead): one step at `at`, the active key's creation plus the interval; a standby key is left alone.
 * - `stage` (no standby key): a new key at `at` = `dueAt` - lead.
 * - `promote` (a standby key `kid`, whoever staged it): at `at` = the later of `dueAt` and the key's staging plus
 *   the lead, so that verifiers that only pull (and JWKS caches) have the lead to learn it.
 */
export type RotationStep =
  | { step: 'rotate'; at: Date; dueAt: Date }
  | { step: 'stage'; at: Date; dueAt: Date }
  | { step: 'promote'; at: Date; dueAt: Date; kid: string; stagedAt: Date };

export function nextRotationStep(keyset: Keyset, timing: RotationTiming): RotationStep {
  const active = findActiveKey(keyset);
  const dueMs = active ? Date.parse(active.created_at) + timing.intervalMs : 0;
  const dueAt = new Date(dueMs);
  if (timing.leadMs <= 0) return { step: 'rotate', at: dueAt, dueAt };
  const standby = findStandbyKey(keyset);
  if (standby === undefined) return { step: 'stage', at: new Date(dueMs - timing.leadMs), dueAt };
  const stagedMs = Date.parse(standby.created_at);
  return {
    step: 'promote',
    at: new Date(Math.max(dueMs, stagedMs + timing.leadMs)),
    dueAt,
    kid: standby.kid,
    stagedAt: new Date(stagedMs),
  };
}

/**
 * The updater for a scheduled rotation: a generated key of the active key's algorithm (an EdDSA deployment
 * rotates to a new EdDSA key) when the keyset is due, else null (another replica rotated first, which is not an
 * error).
 */
export function rotateIfDue(
  intervalMs: number,
  options: { now: () => Date; gracePeriodMs: number },
): KeysetUpdater {
  return async (stored) => {
    if (stored === null || msUntilRotationDue(stored.keyset, intervalMs, options.now()) > 0) return null;
    const alg = findActiveKey(stored.keyset)?.alg ?? 'HS256';
    return rotateKeyset(stored.keyset, await newKey(alg), {
      now: options.now(),
      gracePeriodMs: options.gracePeriodMs,
    });
  };
}
