/** Where the keyset lives: the seed's `enum SecretStorage { LocalEnv, Valkey(pool) }`. */
import type { Keyset } from '../../../shared/keyset.ts';
import type { AuditAction } from '../audit/audit-entry.ts';

export interface StoredKeyset {
  keyset: Keyset;
  /** The sealed envelope of `keyset`, when a KEYSET_KEY is configured. */
  envelope: string | null;
}

/**
 * The revocation list as stored (shared/revocations.ts): a signed snapshot (`from` 0) and, above its serial, one
 * signed delta per RevokeTokens call since (each `from` the serial before it), so that a call writes its own
 * batch and not the whole list; the control plane folds the deltas into a new snapshot now and then.
 */
export interface StoredRevocations {
  /** The serial of the newest batch, the compare-and-swap guard; 0 when nothing was ever revoked. */
  serial: number;
  /** The signed snapshot, when it was read (see loadRevocations); null when not read or none was written. */
  snapshot: string | null;
  /** Signed deltas, oldest first. */
  deltas: string[];
}

/** One signed document with the serial it ends at: a delta appended, or a snapshot written. */
export interface RevocationDocument {
  serial: number;
  document: string;
}

export interface KeysetStorage {
  readonly kind: 'env' | 'valkey';
  /** The current keyset, or null when none was ever written. Throws StorageUnavailableError. */
  load(): Promise<StoredKeyset | null>;
  /** A secret that existed before Keyward (`jwt_secrets:active`, `JWT_SECRET`): becomes version 1. */
  loadLegacySecrets(): Promise<{ active: string; previous: string[] } | null>;
  /**
   * Replaces the keyset in one atomic step if the stored version is still `expectedVersion` (0: none stored).
   * Returns false, changing nothing, when another writer got there first. The keyset's chain link, and the
   * audit entry of `action` when given, are written in the same step.
   */
  compareAndSwap(expectedVersion: number, next: StoredKeyset, action?: AuditAction): Promise<boolean>;
  /**
   * The revocation list, read in one atomic step: its serial alone when that is `since` and not 0 (so that a
   * replica checking for news reads a number, not the list); the deltas above `since` when `since` is lower and
   * not 0; else (0, or above the serial: a restored backup) the snapshot and every delta, whatever the serial key
   * says (it may have been lost on its own). The deltas above `since` may start above it when a snapshot took in
   * the ones between: read again from 0. Throws StorageUnavailableError.
   */
  loadRevocations(since: number): Promise<StoredRevocations>;
  /**
   * Appends one delta and moves the serial to its serial, in one atomic step, if the stored serial is still
   * `expectedSerial`; false, changing nothing, when another writer got there first. The audit entry of `action`,
   * when given, is written in the same step.
   */
  appendRevocations(
    expectedSerial: number,
    delta: RevocationDocument,
    action?: AuditAction,
  ): Promise<boolean>;
  /**
   * Replaces the snapshot with `snapshot` and drops the deltas at or below its serial, in one atomic step, only
   * while the delta at its serial is stored: not once a snapshot as new took it in, nor after storage went back to
   * a backup that never held it. False when nothing changed. The list it describes is the same before and after.
   */
  compactRevocations(snapshot: RevocationDocument): Promise<boolean>;
  /**
   * Records that an edge reached at `url` is alive until `expiresAt` (epoch ms), and forgets registrations that
   * have expired. Throws StorageUnavailableError.
   */
  registerEdge(url: string, expiresAt: number): Promise<void>;
  /** The URLs of the edges whose registration has not expired at `now`, at most `limit`. */
  registeredEdges(now: number, limit: number): Promise<string[]>;
  /** Calls `onChange` when another process changes the keyset. Returns the function that stops watching. */
  watch(onChange: (version: number) => void): Promise<() => Promise<void>>;
  /**
   * What storage holds besides the keyset, to check it against the keyset at start (absent: nothing else is
   * stored). Throws StorageUnavailableError.
   */
  inspect?(): Promise<StorageFacts>;
  /**
   * The start-up message when the compare-and-swap guard (`guard`) is ahead of the stored keyset (`held`): what
   * is wrong, in this storage's terms, and when not `consistent` which keys to restore together.
   */
  describeGuardAhead?(guard: number, held: number, consistent: boolean): string;
  /**
   * The last `count` entries of the audit log, oldest first, as stored (JSON text; audit/audit-entry.ts). Absent:
   * this storage keeps no audit log. Throws StorageUnavailableError.
   */
  auditTail?(count: number): Promise<string[]>;
  /** Takes a lock with expiry (scheduled rotation: one replica at a time). Returns false when held elsewhere. */
  tryLock(name: string, ttlMs: number): Promise<boolean>;
  /**
   * Why a keyset could not be written over "none stored" although none loads, in this storage's own terms
   * (for Valkey: the version key set without the keyset), and how to repair it.
   */
  describeMissingKeyset(): string;
  close(): Promise<void>;
}

/** Valkey's keys besides the keyset, as start-up checks them against it. */
export interface StorageFacts {
  /** The compare-and-swap guard (`jwt_secrets:version`); 0 when unset. */
  guardVersion: number;
  /**
   * What `jwt_secrets:active` holds (legacyActiveSecret of a consistent keyset: the active HS256 secret, or
   * while a key pair is active the newest previous HS256 secret), or null when the key is absent.
   */
  activeSecret: string | null;
  /** The kid of the published signing key (`jwt_secrets:signing_key`), or null when there is none. */
  signingKid: string | null;
  /** The highest secret version the history holds; 0 when empty. */
  highestSecretVersion: number;
}
