/**
 * The two keyset changes of a scheduled rotation with ROTATION_LEAD, as updaters built on StageKey's and
 * PromoteKey's (stage-promote.ts) that write nothing (null) once the step is no longer due: another replica
 * made it, an operator staged, promoted or revoked meanwhile, or the clock has not reached it.
 */
import type { NewKey } from '../../../shared/keyset.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';
import { nextRotationStep, type RotationTiming } from './rotation-due.ts';
import { promoteTo, stageTo } from './stage-promote.ts';

/** Stages `key` while what storage holds still calls for a staging and it has fallen due. */
export function stageWhenDue(key: NewKey, timing: RotationTiming, now: () => Date): KeysetUpdater {
  const stage = stageTo(key, now);
  return (stored) => {
    if (stored === null) return null;
    const next = nextRotationStep(stored.keyset, timing);
    if (next.step !== 'stage' || next.at > now()) return null;
    return stage(stored);
  };
}

/** Promotes the standby key `kid` while it is still the standby key and its promotion has fallen due. */
export function promoteWhenDue(
  kid: string,
  timing: RotationTiming,
  options: { now: () => Date; gracePeriodMs: number },
): KeysetUpdater {
  const promote = promoteTo(kid, options);
  return (stored) => {
    if (stored === null) return null;
    const next = nextRotationStep(stored.keyset, timing);
    if (next.step !== 'promote' || next.kid !== kid || next.at > options.now()) return null;
    return promote(stored);
  };
}
