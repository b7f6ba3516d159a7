/** Revoking a previous key at once, as a keyset updater. */
import { revokeKey } from '../../../shared/keyset.ts';
import { ControlPlaneError } from '../errors.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';

/** The updater that drops the previous key `kid`; the active key cannot be revoked (rotate instead). */
export function revoke(kid: string, now: () => Date): KeysetUpdater {
  return (stored) => {
    if (stored === null) throw new ControlPlaneError('failed_precondition', 'No keyset');
    return revokeKey(stored.keyset, kid, now());
  };
}
