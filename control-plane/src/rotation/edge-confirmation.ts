/**
 * Whether every EDGE_URLS target holds a standby key: the one check PromoteKey and the scheduled promotion make
 * before a key signs, so that no edge meets a token of a key it does not hold.
 */
import type { KeysetManager } from '../keyset/keyset-manager.ts';
import type { EdgePusher, EdgeTargetState } from '../push/edge-pusher.ts';
import type { StoredKeyset } from '../storage/keyset-storage.ts';

export interface EdgeConfirmation {
  /** EDGE_URLS targets asked. */
  total: number;
  /** The URLs of those that have not confirmed a keyset holding the key. */
  missing: string[];
}

/**
 * An edge that reports `edgeVersion` holds the key when that is the version pushed (`pushedVersion`, a keyset
 * holding it), or a newer one while the keyset now held still holds the key (`stillHeld`).
 */
function holdsKey(edgeVersion: number, pushedVersion: number, stillHeld: boolean): boolean {
  return edgeVersion >= pushedVersion && (edgeVersion <= pushedVersion || stillHeld);
}

/** Pushes `current` (which holds the standby key `kid`) to every edge and names those that did not confirm it. */
export async function confirmEdgesHold(
  deps: { manager: KeysetManager; pusher?: EdgePusher },
  current: StoredKeyset,
  kid: string,
): Promise<EdgeConfirmation> {
  const { pusher, manager } = deps;
  const total = pusher?.targets.length ?? 0;
  if (pusher === undefined || total === 0) return { total: 0, missing: [] };
  const outcome = await pusher.pushAll(current);
  const latest = (await manager.keyset()).keyset;
  const stillHeld = latest.keys.some((key) => key.kid === kid);
  const confirmed = outcome.filter(
    (edge) => edge.confirmed && holdsKey(edge.version, current.keyset.version, stillHeld),
  );
  const missing = pusher.targets
    .map((target) => target.url)
    .filter((url) => !confirmed.some((edge) => edge.url === url));
  return { total, missing };
}

/**
 * The same rule over what the pusher last heard from each edge, without pushing: for a replica that reports a
 * standby key it is not itself promoting (`keyset` holds the key).
 */
export function lastKnownConfirmation(targets: EdgeTargetState[], keysetVersion: number): EdgeConfirmation {
  const missing = targets
    .filter((target) => !holdsKey(target.confirmedVersion, keysetVersion, true))
    .map((target) => target.url);
  return { total: targets.length, missing };
}

/** "1 of 3 edges have not confirmed a keyset holding it (url)". */
export function describeUnconfirmed({ total, missing }: EdgeConfirmation): string {
  return `${missing.length} of ${total} edges have not confirmed a keyset holding it (${missing.join(', ')})`;
}
