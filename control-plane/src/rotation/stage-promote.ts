/** Staging a standby key and promoting it, as keyset updaters idempotent when their own attempt landed unseen. */
import { type NewKey, promoteKey, stageKey } from '../../../shared/keyset.ts';
import { ControlPlaneError } from '../errors.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';

/** The updater that adds `key` as the standby key (`standby_exists` while another one is standby). */
export function stageTo(key: NewKey, now: () => Date): KeysetUpdater {
  let attempted = false;
  return (stored) => {
    if (stored === null) throw new ControlPlaneError('failed_precondition', 'No keyset');
    // Our key already standby after a lost swap: the swap landed and its reply was lost.
    if (attempted && stored.keyset.keys.some((entry) => entry.kid === key.kid)) return null;
    attempted = true;
    return stageKey(stored.keyset, key, now());
  };
}

/** The updater that makes the standby key `kid` active (`key_not_found` / `key_not_standby` otherwise). */
export function promoteTo(
  kid: string,
  options: { now: () => Date; gracePeriodMs: number; emergency?: boolean },
): KeysetUpdater {
  let attempted = false;
  return (stored) => {
    if (stored === null) throw new ControlPlaneError('failed_precondition', 'No keyset');
    const target = stored.keyset.keys.find((entry) => entry.kid === kid);
    if (attempted && target?.status === 'active') {
      // An emergency leaves no previous key: one left means another call promoted the same key without
      // emergency (a key staged since is standby, no sign of that).
      if (options.emergency && stored.keyset.keys.some((entry) => entry.status === 'previous')) {
        throw new ControlPlaneError(
          'conflict',
          'The key was promoted concurrently without emergency; earlier keys are still valid: rotate with emergency',
        );
      }
      return null;
    }
    attempted = true;
    return promoteKey(stored.keyset, kid, {
      now: options.now(),
      gracePeriodMs: options.gracePeriodMs,
      emergency: options.emergency,
    });
  };
}
