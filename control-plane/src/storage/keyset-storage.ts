/** Where the keyset lives: the seed's `enum SecretStorage { LocalEnv, Valkey(pool) }`. */
import type { Keyset } from '../../../shared/keyset.ts';

export interface StoredKeyset {
  keyset: Keyset;
  /** The sealed envelope of `keyset`, when a KEYSET_KEY is configured. */
  envelope: string | null;
}

export interface KeysetStorage {
  readonly kind: 'env' | 'valkey';
  /** The current keyset, or null when none was ever written. Throws StorageUnavailableError. */
  load(): Promise<StoredKeyset | null>;
  /** A secret that existed before Keyward (`jwt_secrets:active`, `JWT_SECRET`): becomes version 1. */
  loadLegacySecrets(): Promise<{ active: string; previous: string[] } | null>;
  /**
   * Replaces the keyset in one atomic step if the stored version is still `expectedVersion` (0: none stored).
   * Returns false, changing nothing, when another writer got there first.
   */
  compareAndSwap(expectedVersion: number, next: StoredKeyset): Promise<boolean>;
  /** Calls `onChange` when another process changes the keyset. Returns the function that stops watching. */
  watch(onChange: (version: number) => void): Promise<() => Promise<void>>;
  /** Takes a lock with expiry (scheduled rotation: one replica at a time). Returns false when held elsewhere. */
  tryLock(name: string, ttlMs: number): Promise<boolean>;
  /**
   * Why a keyset could not be written over "none stored" although none loads, in this storage's own terms
   * (for Valkey: the version key set without the keyset), and how to repair it.
   */
  describeMissingKeyset(): string;
  close(): Promise<void>;
}
