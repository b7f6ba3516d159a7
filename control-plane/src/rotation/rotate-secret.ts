/** A rotation to a new key as a keyset updater, idempotent when its own earlier attempt landed unseen. */
import { type NewKey, rotateKeyset } from '../../../shared/keyset.ts';
import { ControlPlaneError } from '../errors.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';

export interface RotationRequest {
  /** An HS256 secret or a generated key pair, with its kid. */
  key: NewKey;
  emergency?: boolean;
}

/** The updater that installs `request.key` as the active key, demoting (or, in an emergency, expiring) the rest. */
export function rotateTo(
  request: RotationRequest,
  options: { now: () => Date; gracePeriodMs: number },
): KeysetUpdater {
  let attempted = false;
  const { kid } = request.key;
  return (stored) => {
    const current = stored?.keyset ?? null;
    // Our own key already there after a failed swap: the swap landed and its reply was lost with the
    // connection (the client re-sent it after reconnecting, and the re-sent one lost the compare-and-swap).
    const ours = attempted ? current?.keys.find((key) => key.kid === kid) : undefined;
    if (ours !== undefined) {
      // An emergency is in place only if no key older than ours survived; another call may have installed
      // the same secret as a normal rotation.
      if (request.emergency && current?.keys.some((key) => key.version < ours.version)) {
        throw new ControlPlaneError(
          'conflict',
          'The secret was installed concurrently without emergency; earlier keys are still valid: rotate again with emergency',
        );
      }
      return null;
    }
    attempted = true;
    return rotateKeyset(current, request.key, {
      now: options.now(),
      gracePeriodMs: options.gracePeriodMs,
      emergency: request.emergency,
    });
  };
}
