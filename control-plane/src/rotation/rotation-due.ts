/**
 * When scheduled rotation is due: ROTATION_INTERVAL after the active secret's creation, so a restart does not
 * reset the clock.
 */
import { findActiveKey, type Keyset, rotateKeyset } from '../../../shared/keyset.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';
import { newKey } from './new-key.ts';

/** Milliseconds until `keyset` is due for rotation every `intervalMs` (zero or less: due; no active key: due). */
export function msUntilRotationDue(keyset: Keyset, intervalMs: number, now: Date): number {
  const active = findActiveKey(keyset);
  return active ? Date.parse(active.created_at) + intervalMs - now.getTime() : 0;
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
