/**
 * Re-sealing at start: when the stored envelope does not open with KEYSET_KEY (the key was changed, or the keyset
 * was written without one), the keyset is written again as a new version, so that edges given the new key take
 * it. Only at start: replicas configured with different keys would otherwise re-seal over each other without
 * end. As it is, the last one started wins until the next write, which is sealed with its writer's key; the
 * warning says so.
 */
import { openKeyset } from '../../../shared/keyset-envelope.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';

/** The updater that bumps the version of a keyset whose envelope does not open with `keysetKey`. */
export function resealUnder(keysetKey: Uint8Array, now: () => Date): KeysetUpdater {
  return async (current) => {
    if (current === null) return null;
    const opens =
      current.envelope !== null &&
      (await openKeyset(current.envelope, keysetKey).then(
        () => true,
        () => false,
      ));
    if (opens) return null;
    return { ...current.keyset, version: current.keyset.version + 1, issued_at: now().toISOString() };
  };
}

/** The warning logged once a foreign envelope was re-sealed. */
export function resealWarning(previousVersion: number, resealedVersion: number): string {
  return `the stored keyset envelope (version ${previousVersion}) did not open with KEYSET_KEY: re-sealed it with KEYSET_KEY as version ${resealedVersion}; edges still given the earlier key will reject it (if replicas run with different KEYSET_KEY values, each change is sealed with its writer's key)`;
}
