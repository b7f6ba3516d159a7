/**
 * The read-through keyset cache: fresh for KEYSET_CACHE_TTL, re-read at once when another replica announces a
 * change (pub/sub), served stale when storage is away, and dropped when storage went back in time.
 */

import { type KeyRing, prepareKeyRing } from '../../../shared/key-ring.ts';
import type { VerifyPrimitive } from '../../../shared/verify-primitive.ts';
import { StorageUnavailableError } from '../errors.ts';
import type { KeysetStorage, StoredKeyset } from '../storage/keyset-storage.ts';
import type { VersionFloor } from './version-floor.ts';

export interface KeysetCacheOptions {
  storage: KeysetStorage;
  cacheTtlMs: number;
  now: () => Date;
  /** Every keyset is imported as a key ring before it is served: a key that does not import fails the read. */
  primitive: VerifyPrimitive;
  /** Told of every keyset installed, so that the next change is numbered above it. */
  floor: VersionFloor;
  onInstalled: (stored: StoredKeyset) => void;
  onWarning: (message: string, error?: unknown) => void;
}

interface CacheEntry {
  stored: StoredKeyset;
  ring: KeyRing;
  loadedAt: number;
}

/** Own writes whose announcement is awaited, at most: more are only ever pending without pub/sub. */
const OWN_WRITES_KEPT = 8;

/** What storage holding no keyset reads as. */
const NO_KEYSET: StoredKeyset = {
  keyset: { version: 0, issued_at: new Date(0).toISOString(), keys: [] },
  envelope: null,
};

export class KeysetCache {
  readonly #options: KeysetCacheOptions;
  #entry: CacheEntry | null = null;
  #stale = true;
  /** Change notifications received so far: a read started before the latest one cannot clear `#stale`. */
  #changes = 0;
  #reloading: { changes: number; entry: Promise<CacheEntry> } | null = null;
  /** When storage last answered a read or took a write, and whether a read has failed since. */
  #storageSeen = { atMs: 0, failing: false };
  /** Versions this process wrote whose announcement has not come back yet (a few at most). */
  readonly #ownWrites = new Set<number>();

  constructor(options: KeysetCacheOptions) {
    this.#options = options;
  }

  /** Change notifications so far; pass it to `install` for a keyset read from now on. */
  get changes(): number {
    return this.#changes;
  }

  /** Starts listening for other replicas' changes; returns the function that stops. */
  watch(): Promise<() => Promise<void>> {
    return this.#options.storage.watch((version) => {
      // The announcement of this process's own write, while the cache holds that write: nothing to re-read.
      if (this.#ownWrites.delete(version) && this.#entry?.stored.keyset.version === version) return;
      // After a reconnect (NaN) announcements may have been missed, this process's own among them.
      if (Number.isNaN(version)) this.#ownWrites.clear();
      this.#changes++;
      this.#stale = true;
      this.current().catch((error) =>
        this.#options.onWarning('re-reading the keyset after a change failed', error),
      );
    });
  }

  /**
   * True when the last read of storage failed and storage has not answered for longer than KEYSET_CACHE_TTL:
   * what the cache holds is past its age limit.
   */
  get staleBeyondTtl(): boolean {
    const { atMs, failing } = this.#storageSeen;
    return failing && this.#nowMs() - atMs >= this.#options.cacheTtlMs;
  }

  /** The next read goes to storage (a write lost its compare-and-swap: the cache is behind). */
  markStale(): void {
    this.#stale = true;
  }

  /** The keyset, from the cache while fresh. Serves the cache stale rather than failing when storage is away. */
  async current(): Promise<StoredKeyset> {
    const cache = this.#entry;
    if (cache && !this.#stale && this.#nowMs() - cache.loadedAt < this.#options.cacheTtlMs)
      return cache.stored;
    try {
      return (await this.#reload()).stored;
    } catch (error) {
      if (cache && error instanceof StorageUnavailableError) {
        this.#storageSeen.failing = true;
        this.#options.onWarning('storage unreachable, serving the cached keyset', error);
        return cache.stored;
      }
      throw error;
    }
  }

  /** The keyset as storage holds it now (version 0: none), installed in the cache. */
  async reload(): Promise<StoredKeyset> {
    return (await this.#reload()).stored;
  }

  /**
   * This process wrote `version` (its compare-and-swap succeeded): storage's announcement of it needs no re-read
   * once `install` has put it in the cache. Any other announcement still re-reads.
   */
  wrote(version: number): void {
    this.#ownWrites.add(version);
    // Storage without announcements (env) never takes them back: keep the last few only.
    if (this.#ownWrites.size > OWN_WRITES_KEPT) {
      this.#ownWrites.delete(this.#ownWrites.values().next().value as number);
    }
  }

  /** `changes`: the count of change notifications when `stored` was read. */
  async install(stored: StoredKeyset, changes: number): Promise<StoredKeyset> {
    return (await this.#install(stored, changes)).stored;
  }

  /**
   * After a lost compare-and-swap: when storage now holds an older keyset than the cache, Valkey went back in
   * time (restored from an older backup, or failed over to a replica that lagged). Every write compares against
   * the cached version, so the cache is dropped or writes would fail until a restart.
   */
  async dropIfRolledBack(): Promise<void> {
    const cached = this.#entry;
    if (cached === null) return;
    const changes = this.#changes;
    const stored = (await this.#options.storage.load()) ?? NO_KEYSET;
    if (stored.keyset.version >= cached.stored.keyset.version) return;
    this.#options.onWarning(
      `storage holds keyset version ${stored.keyset.version}, older than version ${cached.stored.keyset.version} held here (restored from an older backup, or failed over to a replica that lagged?): dropped the cached keyset; the next change is numbered from version ${this.#options.floor.nextKeysetVersion}`,
    );
    if (this.#entry === cached) this.#entry = null;
    await this.#install(stored, changes);
  }

  #reload(): Promise<CacheEntry> {
    // Concurrent readers share one storage round-trip, unless a change was announced after it started: that
    // read may predate the change, so joining it would miss the change until the cache TTL.
    const changes = this.#changes;
    if (this.#reloading?.changes === changes) return this.#reloading.entry;
    const entry = (async () => {
      try {
        const stored = (await this.#options.storage.load()) ?? NO_KEYSET;
        return await this.#install(stored, changes);
      } finally {
        if (this.#reloading?.changes === changes) this.#reloading = null;
      }
    })();
    this.#reloading = { changes, entry };
    return entry;
  }

  async #install(stored: StoredKeyset, changes: number): Promise<CacheEntry> {
    this.#storageSeen = { atMs: this.#nowMs(), failing: false };
    const cached = this.#entry;
    if (cached && cached.stored.keyset.version === stored.keyset.version) {
      cached.loadedAt = this.#nowMs();
      if (changes === this.#changes) this.#stale = false;
      return cached;
    }
    if (cached && cached.stored.keyset.version > stored.keyset.version) {
      // A slow read that finished after a newer write: keep the newer.
      return cached;
    }
    const ring = await prepareKeyRing(stored.keyset, this.#options.primitive);
    const entry = { stored, ring, loadedAt: this.#nowMs() };
    // A slower read may finish after a newer one (reads do not always share one round-trip).
    if (this.#entry && this.#entry.stored.keyset.version > stored.keyset.version) return this.#entry;
    this.#entry = entry;
    if (changes === this.#changes) this.#stale = false;
    this.#options.floor.observe(stored.keyset);
    this.#options.onInstalled(stored);
    return entry;
  }

  #nowMs(): number {
    return this.#options.now().getTime();
  }
}
