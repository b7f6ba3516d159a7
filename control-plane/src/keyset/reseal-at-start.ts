/**
 * Re-sealing at start: when the stored envelope does not open with KEYSET_KEY or is not signed by
 * KEYSET_SIGNING_KEY (either was changed, or the keyset was written without an envelope or before envelopes were
 * signed), the keyset is written again as a new version, so that edges given the new keys take it. Only at
 * start: replicas configured with different keys would otherwise re-seal over each other without end. As it is,
 * the last one started wins until the next write, which is sealed with its writer's keys; the warning says so.
 */
import { openingKeys, openKeyset, type SealingKeys } from '../../../shared/keyset-envelope.ts';
import type { KeysetUpdater } from '../storage/update-keyset.ts';

/** The updater that bumps the version of a keyset whose envelope these keys did not make. */
export function resealUnder(keys: SealingKeys, now: () => Date): KeysetUpdater {
  const opening = openingKeys(keys.keysetKey === undefined ? [] : [keys.keysetKey], [keys.signer.publicKey]);
  return async (current) => {
    if (current === null) return null;
    const opens =
      current.envelope !== null &&
      (await openKeyset(current.envelope, opening).then(
        () => true,
        () => false,
      ));
    if (opens) return null;
    return { ...current.keyset, version: current.keyset.version + 1, issued_at: now().toISOString() };
  };
}

/** The warning logged once a foreign envelope was re-sealed. */
export function resealWarning(previousVersion: number, resealedVersion: number): string {
  return `the stored keyset envelope (version ${previousVersion}) did not open with KEYSET_KEY or was not signed by KEYSET_SIGNING_KEY: re-sealed it with KEYSET_KEY as version ${resealedVersion}; edges still given the earlier key will reject it (if replicas run with different KEYSET_KEY or KEYSET_SIGNING_KEY values, each change is sealed with its writer's keys)`;
}
