/** Where the keyset lives: the seed's `enum SecretStorage { LocalEnv, Valkey(pool) }`. */
import type { Keyset } from '../../../shared/keyset.ts';
import type { AuditAction } from '../audit/audit-entry.ts';

export interface StoredKeyset {
  keyset: Keyset;
  /** The sealed envelope of `keyset`, when a KEYSET_KEY is configured. */
  envelope: string | null;
}

/** The revocation list as stored: its serial and the signed snapshot (shared/revocations.ts). */
export interface StoredRevocations {
  serial: number;
  /** The signed snapshot; null when nothing was ever revoked. */
  document: string | null;
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
   * The revocation list: its serial, and the document only when that serial is not `knownSerial` (so that a
   * replica checking for news reads a number, not the whole list; a lower serial is a restored backup). Throws
   * StorageUnavailableError.
   */
  loadRevocations(knownSerial: number): Promise<StoredRevocations>;
  /**
   * Replaces the revocation list in one atomic step if the stored serial is still `expectedSerial`; false,
   * changing nothing, when another writer got there first. The audit entry of `action`, when given, is written
   * in the same step.
   */
  swapRevocations(expectedSerial: number, next: StoredRevocations, action?: AuditAction): Promise<boolean>;
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
