/**
 * When scheduled rotation is due: ROTATION_INTERVAL after the active secret's creation, so a restart does not
 * reset the clock.
 */
import { findActiveKey, type Keyset, rotateKeyset } from '../../../shared/keyset.ts';
import { computeKid } from '../../../shared/kid.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';
import { generateSecret } from './generate-secret.ts';

/** Milliseconds until `keyset` is due for rotation every `intervalMs` (zero or less: due; no active key: due). */
export function msUntilRotationDue(keyset: Keyset, intervalMs: number, now: Date): number {
  const active = findActiveKey(keyset);
  return active ? Date.parse(active.created_at) + intervalMs - now.getTime() : 0;
}

/**
 * The updater for a scheduled rotation: a generated secret when the keyset is due, else null (another replica
 * rotated first, which is not an error).
 */
export function rotateIfDue(
  intervalMs: number,
  options: { now: () => Date; gracePeriodMs: number },
): KeysetUpdater {
  return async (stored) => {
    if (stored === null || msUntilRotationDue(stored.keyset, intervalMs, options.now()) > 0) return null;
    const secret = generateSecret();
    return rotateKeyset(
      stored.keyset,
      { secret, kid: await computeKid(secret) },
      { now: options.now(), gracePeriodMs: options.gracePeriodMs },
    );
  };
}
