/**
 * The secret manager: one active secret plus previous ones in grace, in whichever storage. It caches the
 * keyset for KEYSET_CACHE_TTL, re-reads at once when another replica announces a change, and serves a stale
 * cache when storage is away (reads keep working; writes answer UNAVAILABLE).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeBase64url } from '../../shared/base64url.ts';
import { KeywardError } from '../../shared/errors.ts';
import type { HmacPrimitive } from '../../shared/hmac.ts';
import { type KeyRing, prepareKeyRing } from '../../shared/key-ring.ts';
import {
  activeKey,
  assertSecretStrength,
  type Keyset,
  nextExpiry,
  pruneKeyset,
  revokeKey,
  rotateKeyset,
} from '../../shared/keyset.ts';
import { openKeyset, sealKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { nodeHmac } from '../../shared/runtime/node-hmac.ts';
import {
  DEFAULT_MAX_TOKEN_BYTES,
  type VerifyOptions,
  type VerifyResult,
  verifyToken,
} from '../../shared/verify-token.ts';
import { ControlPlaneError, StorageUnavailableError } from './errors.ts';
import type { KeysetStorage, StoredKeyset } from './storage/keyset-storage.ts';
import { VALKEY_KEYS } from './storage/valkey-storage.ts';

export interface SecretManagerOptions {
  storage: KeysetStorage;
  keysetKey?: Uint8Array;
  gracePeriodMs: number;
  cacheTtlMs: number;
  now?: () => Date;
  hmac?: HmacPrimitive;
  /** Called with a warning when the cache is served stale or a background task fails. */
  onWarning?: (message: string, error?: unknown) => void;
}

export interface RotateRequest {
  /** Omit to have the server generate 48 random bytes (base64). */
  secret?: string;
  emergency?: boolean;
}

export interface DecodingKey {
  kid: string;
  status: 'active' | 'previous';
  key: Uint8Array;
  expiresAt: Date | null;
}

interface CacheEntry {
  stored: StoredKeyset;
  ring: KeyRing;
  loadedAt: number;
}

/** Attempts of one rotation against concurrent writers before it gives up with `conflict`. */
const MAX_CAS_ATTEMPTS = 200;

/** What storage holding no keyset reads as. */
const NO_KEYSET: StoredKeyset = {
  keyset: { version: 0, issued_at: new Date(0).toISOString(), keys: [] },
  envelope: null,
};

export function generateSecret(): string {
  return randomBytes(48).toString('base64');
}

/**
 * `change`: this process wrote a new keyset. `installed`: the keyset this process serves was replaced, whoever
 * wrote it (this process, another replica seen through pub/sub, or a re-read).
 */
export class SecretManager extends EventEmitter<{ change: [StoredKeyset]; installed: [StoredKeyset] }> {
  readonly #storage: KeysetStorage;
  readonly #options: SecretManagerOptions;
  readonly #now: () => Date;
  readonly #hmac: HmacPrimitive;
  #cache: CacheEntry | null = null;
  #stale = true;
  #unwatch: (() => Promise<void>) | null = null;
  #pruneTimer: ReturnType<typeof setTimeout> | null = null;
  /** Change notifications received so far: a read started before the latest one cannot clear `#stale`. */
  #changes = 0;
  #reloading: { changes: number; entry: Promise<CacheEntry> } | null = null;
  /**
   * The highest keyset and secret versions this process has held. After storage went back in time, new
   * versions start above them, so that no version is issued twice with different keys (an edge holding the lost
   * one would answer "already held" to the new one).
   */
  #highest = { keyset: 0, key: 0 };
  /** When storage last answered a read or took a write (Date.now()), and whether a read has failed since. */
  #storageSeen = { at: 0, failing: false };

  constructor(options: SecretManagerOptions) {
    super();
    this.#options = options;
    this.#storage = options.storage;
    this.#now = options.now ?? (() => new Date());
    this.#hmac = options.hmac ?? nodeHmac;
  }

  get storageKind(): 'env' | 'valkey' {
    return this.#storage.kind;
  }

  /**
   * True when the last read of storage failed and it has not answered for longer than KEYSET_CACHE_TTL: the
   * keyset held is served past its age limit.
   */
  get staleBeyondTtl(): boolean {
    const { at, failing } = this.#storageSeen;
    return failing && Date.now() - at >= this.#options.cacheTtlMs;
  }

  /** Loads (or bootstraps) the keyset and starts watching other replicas' changes. */
  async start(): Promise<StoredKeyset> {
    this.#unwatch = await this.#storage.watch(() => {
      this.#changes++;
      this.#stale = true;
      this.current().catch((error) =>
        this.#options.onWarning?.('re-reading the keyset after a change failed', error),
      );
    });
    const entry = await this.#reload();
    if (entry.stored.keyset.version === 0) await this.#bootstrap();
    await this.#resealIfForeign();
    await this.pruneExpired();
    return (await this.current()).stored;
  }

  async stop(): Promise<void> {
    if (this.#pruneTimer) clearTimeout(this.#pruneTimer);
    this.#pruneTimer = null;
    await this.#unwatch?.();
    this.#unwatch = null;
  }

  /** The keyset (cached). Serves the cache stale rather than failing when storage is unreachable. */
  async keyset(): Promise<StoredKeyset> {
    return (await this.current()).stored;
  }

  async current(): Promise<CacheEntry> {
    const cache = this.#cache;
    if (cache && !this.#stale && Date.now() - cache.loadedAt < this.#options.cacheTtlMs) return cache;
    try {
      return await this.#reload();
    } catch (error) {
      if (cache && error instanceof StorageUnavailableError) {
        this.#storageSeen.failing = true;
        this.#options.onWarning?.('storage unreachable, serving the cached keyset', error);
        return cache;
      }
      throw error;
    }
  }

  /** Rotates to a new secret in one compare-and-swap, retrying when another replica wins the race. */
  async rotate(request: RotateRequest = {}): Promise<StoredKeyset> {
    const secret = request.secret ?? generateSecret();
    assertSecretStrength(secret);
    const kid = await computeKid(secret);
    let attempted = false;
    return this.#update((current) => {
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
      try {
        return rotateKeyset(
          current,
          { secret, kid },
          {
            now: this.#now(),
            gracePeriodMs: this.#options.gracePeriodMs,
            emergency: request.emergency,
          },
        );
      } catch (error) {
        if (error instanceof KeywardError && error.code === 'secret_reused') {
          throw new ControlPlaneError('invalid_argument', 'Secret already in the keyset');
        }
        throw error;
      }
    });
  }

  /**
   * Scheduled rotation: rotates once when the active secret is older than `intervalMs`. Returns null when not
   * due or when another replica rotated first (losing the race is not an error).
   */
  async rotateIfDue(intervalMs: number): Promise<StoredKeyset | null> {
    // A second look after a lost swap: another replica rotated (no longer due), or storage went back in time and
    // the cache was dropped (still due, and a retry now succeeds).
    for (let attempt = 0; attempt < 2; attempt++) {
      const { keyset } = (await this.#reload()).stored;
      const due = Date.parse(activeKey(keyset).created_at) + intervalMs;
      if (this.#now().getTime() < due) return null;
      const secret = generateSecret();
      const kid = await computeKid(secret);
      const next = rotateKeyset(
        keyset,
        { secret, kid },
        { now: this.#now(), gracePeriodMs: this.#options.gracePeriodMs },
      );
      if (await this.#swap(keyset, next)) return this.keyset();
    }
    return null;
  }

  async revoke(kid: string): Promise<StoredKeyset> {
    return this.#update((current) => {
      if (current === null) throw new ControlPlaneError('failed_precondition', 'No keyset');
      try {
        return revokeKey(current, kid, this.#now());
      } catch (error) {
        if (error instanceof KeywardError && error.code === 'key_not_found') {
          throw new ControlPlaneError('not_found', error.message);
        }
        if (error instanceof KeywardError && error.code === 'key_is_active') {
          throw new ControlPlaneError('failed_precondition', error.message);
        }
        throw error;
      }
    });
  }

  /** Drops previous keys whose grace period has ended; schedules itself for the next expiry. */
  async pruneExpired(): Promise<void> {
    if (this.#pruneTimer) clearTimeout(this.#pruneTimer);
    this.#pruneTimer = null;
    const { keyset } = await this.keyset();
    const pruned = pruneKeyset(keyset, this.#now());
    if (pruned !== keyset) await this.#swap(keyset, pruned);
    const next = nextExpiry((await this.keyset()).keyset);
    if (next && this.#unwatch) {
      const delay = Math.min(Math.max(next.getTime() - this.#now().getTime(), 0) + 5, 2 ** 31 - 1);
      this.#pruneTimer = setTimeout(() => {
        this.pruneExpired().catch((error) => this.#options.onWarning?.('pruning expired keys failed', error));
      }, delay);
      this.#pruneTimer.unref();
    }
  }

  /** Verifies a token as the edges do: kid first, else active, then previous keys within grace. */
  async verifyToken(token: string, options: Partial<VerifyOptions> = {}): Promise<VerifyResult> {
    const { ring } = await this.current();
    return verifyToken(token, ring, {
      algorithms: ['HS256'],
      clockToleranceMs: 30_000,
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
      now: () => this.#now().getTime(),
      ...options,
    });
  }

  /** The keys a verifier should accept right now, in seed order (active first). */
  async getDecodingKeys(): Promise<DecodingKey[]> {
    const { ring, stored } = await this.current();
    const now = this.#now().getTime();
    return ring.ordered
      .filter((key) => now < key.expiresAt)
      .map((key) => {
        const entry = stored.keyset.keys.find((candidate) => candidate.kid === key.kid);
        return {
          kid: key.kid,
          status: key.status,
          key: decodeBase64url(entry?.k ?? '') as Uint8Array,
          expiresAt: Number.isFinite(key.expiresAt) ? new Date(key.expiresAt) : null,
        };
      });
  }

  async #bootstrap(): Promise<CacheEntry> {
    let legacy = await this.#storage.loadLegacySecrets();
    if (legacy === null) {
      this.#options.onWarning?.('no keyset and no initial secret in storage: generated the first secret');
      legacy = { active: generateSecret(), previous: [] };
    }
    // Earlier secrets first, so the given active one ends up active with the highest version.
    let keyset: Keyset | null = null;
    for (const secret of [...legacy.previous].reverse().concat(legacy.active)) {
      assertSecretStrength(secret);
      keyset = rotateKeyset(
        keyset,
        { secret, kid: await computeKid(secret) },
        {
          now: this.#now(),
          gracePeriodMs: this.#options.gracePeriodMs,
        },
      );
    }
    const bootstrapped = { ...(keyset as Keyset), version: 1 };
    await this.#swap(null, bootstrapped);
    const entry = await this.#reload();
    // The swap over "no keyset" fails when a version is stored without the keyset itself: serving an empty keyset
    // at version 0 would look like a successful start.
    if (entry.stored.keyset.version === 0) {
      throw new ControlPlaneError(
        'failed_precondition',
        `No keyset in storage and none could be created: ${VALKEY_KEYS.version} is set but ${VALKEY_KEYS.state} is missing; restore ${VALKEY_KEYS.state}, ${VALKEY_KEYS.keyset} and ${VALKEY_KEYS.active} from a backup`,
      );
    }
    return entry;
  }

  /**
   * Re-seals the stored keyset as a new version when its envelope does not open with KEYSET_KEY (the key was
   * changed, or the keyset was written without one), so that edges given the new key take it. Only at start:
   * replicas configured with different keys would otherwise re-seal over each other without end. As it is, the
   * last one started wins until the next write, which is sealed with its writer's key; the warning says so.
   */
  async #resealIfForeign(): Promise<void> {
    const key = this.#options.keysetKey;
    if (key === undefined) return;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { keyset, envelope } = (await this.#reload()).stored;
      if (
        envelope !== null &&
        (await openKeyset(envelope, key).then(
          () => true,
          () => false,
        ))
      )
        return;
      const next = { ...keyset, version: keyset.version + 1, issued_at: this.#now().toISOString() };
      if (await this.#swap(keyset, next)) {
        this.#options.onWarning?.(
          `the stored keyset envelope (version ${keyset.version}) did not open with KEYSET_KEY: re-sealed it with KEYSET_KEY as version ${(await this.keyset()).keyset.version}; edges still given the earlier key will reject it (if replicas run with different KEYSET_KEY values, each change is sealed with its writer's key)`,
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 50)));
    }
    throw new ControlPlaneError('conflict', 'Too many concurrent changes while re-sealing the keyset');
  }

  /** `change` returns the next keyset, or null when the change is already in place. */
  async #update(change: (current: Keyset | null) => Keyset | null): Promise<StoredKeyset> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = (await this.#reload()).stored.keyset;
      const next = change(current.version === 0 ? null : current);
      if (next === null || (await this.#swap(current, next))) return this.keyset();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** attempt, 50)));
    }
    throw new ControlPlaneError('conflict', 'Too many concurrent changes; try again');
  }

  /** Replaces `current` (null: none stored) by `proposed`; false when storage no longer holds `current`. */
  async #swap(current: Keyset | null, proposed: Keyset): Promise<boolean> {
    const next = this.#aboveHighest(current, proposed);
    const envelope = this.#options.keysetKey ? await sealKeyset(next, this.#options.keysetKey) : null;
    const stored = { keyset: next, envelope };
    const changes = this.#changes;
    if (!(await this.#storage.compareAndSwap(current?.version ?? 0, stored))) {
      this.#stale = true;
      await this.#dropIfRolledBack();
      return false;
    }
    await this.#install(stored, changes);
    this.emit('change', stored);
    if (this.#unwatch)
      this.pruneExpired().catch((error) => this.#options.onWarning?.('pruning failed', error));
    return true;
  }

  /**
   * `next` numbered above every version this process has held: unchanged, except after storage went back in
   * time, when the keyset version and the new secrets' versions would otherwise repeat lost ones.
   */
  #aboveHighest(current: Keyset | null, next: Keyset): Keyset {
    const highest = this.#highest;
    const known = new Set(current?.keys.map((key) => key.kid));
    let keyVersion = highest.key;
    const keys = next.keys.map((key) =>
      known.has(key.kid) || key.version > highest.key ? key : { ...key, version: ++keyVersion },
    );
    const version = Math.max(next.version, highest.keyset + 1);
    if (version === next.version && keys.every((key, i) => key === next.keys[i])) return next;
    return { ...next, version, keys };
  }

  /**
   * After a lost compare-and-swap: when storage now holds an older keyset than the cache, Valkey went back in
   * time (restored from an older backup, or failed over to a replica that lagged). Every write compares against
   * the cached version, so the cache is dropped or writes would fail until a restart.
   */
  async #dropIfRolledBack(): Promise<void> {
    const cached = this.#cache;
    if (cached === null) return;
    const changes = this.#changes;
    const stored = (await this.#storage.load()) ?? NO_KEYSET;
    if (stored.keyset.version >= cached.stored.keyset.version) return;
    this.#options.onWarning?.(
      `storage holds keyset version ${stored.keyset.version}, older than version ${cached.stored.keyset.version} held here (restored from an older backup, or failed over to a replica that lagged?): dropped the cached keyset; the next change is numbered from version ${this.#highest.keyset + 1}`,
    );
    if (this.#cache === cached) this.#cache = null;
    await this.#install(stored, changes);
  }

  async #reload(): Promise<CacheEntry> {
    // Concurrent readers share one storage round-trip, unless a change was announced after it started: that
    // read may predate the change, so joining it would miss the change until the cache TTL.
    const changes = this.#changes;
    if (this.#reloading?.changes === changes) return this.#reloading.entry;
    const entry = (async () => {
      try {
        const stored = (await this.#storage.load()) ?? NO_KEYSET;
        return await this.#install(stored, changes);
      } finally {
        if (this.#reloading?.changes === changes) this.#reloading = null;
      }
    })();
    this.#reloading = { changes, entry };
    return entry;
  }

  /** `changes`: the count of change notifications when `stored` was read. */
  async #install(stored: StoredKeyset, changes: number): Promise<CacheEntry> {
    this.#storageSeen = { at: Date.now(), failing: false };
    const cached = this.#cache;
    if (cached && cached.stored.keyset.version === stored.keyset.version) {
      cached.loadedAt = Date.now();
      if (changes === this.#changes) this.#stale = false;
      return cached;
    }
    if (cached && cached.stored.keyset.version > stored.keyset.version) {
      // A slow read that finished after a newer write: keep the newer.
      return cached;
    }
    const ring = await prepareKeyRing(stored.keyset, this.#hmac);
    const entry = { stored, ring, loadedAt: Date.now() };
    // A slower read may finish after a newer one (reads no longer always share one round-trip).
    if (this.#cache && this.#cache.stored.keyset.version > stored.keyset.version) return this.#cache;
    this.#cache = entry;
    if (changes === this.#changes) this.#stale = false;
    this.#highest = {
      keyset: Math.max(this.#highest.keyset, stored.keyset.version),
      key: Math.max(this.#highest.key, ...stored.keyset.keys.map((key) => key.version)),
    };
    this.emit('installed', stored);
    return entry;
  }
}
