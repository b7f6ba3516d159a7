/** The one compare-and-swap retry loop over the stored keyset: writers pass an updater (dex's `UpdateKeys`). */
import type { Keyset } from '../../../shared/keyset.ts';
import { ControlPlaneError } from '../errors.ts';
import type { StoredKeyset } from './keyset-storage.ts';

/**
 * Given what is stored (null: no keyset), returns the keyset to write, or null when the change is already in
 * place or no longer wanted. Called again, on a fresh read, after each lost race.
 */
export type KeysetUpdater = (current: StoredKeyset | null) => Keyset | null | Promise<Keyset | null>;

/** What the loop reads from and writes to. */
export interface KeysetSwap {
  /** The keyset to update; version 0 when none is stored. */
  read(): Promise<StoredKeyset>;
  /** Replaces `current` (null: none stored) by `next`; false when storage no longer holds `current`. */
  swap(current: Keyset | null, next: Keyset): Promise<boolean>;
}

/** Attempts of one update against concurrent writers before it gives up with `conflict`. */
export const UPDATE_ATTEMPTS = 200;

/**
 * Applies `updater` in one compare-and-swap, re-reading and retrying with jittered backoff when another writer
 * got there first. Returns true when this call wrote, false when the updater found nothing to do.
 */
export async function updateKeyset(
  target: KeysetSwap,
  updater: KeysetUpdater,
  conflictMessage = 'Too many concurrent changes; try again',
): Promise<boolean> {
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    const stored = await target.read();
    const current = stored.keyset.version === 0 ? null : stored;
    const next = await updater(current);
    if (next === null) return false;
    if (await target.swap(current?.keyset ?? null, next)) return true;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 50)));
  }
  throw new ControlPlaneError('conflict', conflictMessage);
}
