/**
 * The keyset this control plane serves and changes: one active secret plus previous ones in grace, in whichever
 * storage. Reads go through the cache (keyset-cache.ts); every change is one updater applied by the storage's
 * compare-and-swap loop (storage/update-keyset.ts), numbered above every version held (version-floor.ts).
 */
import { EventEmitter } from 'node:events';
import type { HmacPrimitive } from '../../../shared/hmac.ts';
import { assertSecretStrength, type Keyset, nextExpiry, pruneKeyset } from '../../../shared/keyset.ts';
import { type SealingKeys, sealKeyset } from '../../../shared/keyset-envelope.ts';
import { importSigner } from '../../../shared/keyset-signing-key.ts';
import { computeKid } from '../../../shared/kid.ts';
import { nodeHmac } from '../../../shared/runtime/node-hmac.ts';
import { ControlPlaneError } from '../errors.ts';
import { generateSecret } from '../rotation/generate-secret.ts';
import { revoke } from '../rotation/revoke-key.ts';
import { rotateTo } from '../rotation/rotate-secret.ts';
import { rotateIfDue } from '../rotation/rotation-due.ts';
import type { KeysetStorage, StoredKeyset } from '../storage/keyset-storage.ts';
import { type KeysetSwap, type KeysetUpdater, updateKeyset } from '../storage/update-keyset.ts';
import { bootstrapKeyset } from './bootstrap-keyset.ts';
import { KeysetCache } from './keyset-cache.ts';
import { PruneTimer } from './prune-timer.ts';
import { resealUnder, resealWarning } from './reseal-at-start.ts';
import { VersionFloor } from './version-floor.ts';

export interface KeysetManagerOptions {
  storage: KeysetStorage;
  keysetKey?: Uint8Array;
  /** KEYSET_SIGNING_KEY's seed; envelopes are made only when it is given (with keysetKey for secrets). */
  signingKey?: Uint8Array;
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

/**
 * `change`: this process wrote a new keyset. `installed`: the keyset this process serves was replaced, whoever
 * wrote it (this process, another replica seen through pub/sub, or a re-read).
 */
export class KeysetManager extends EventEmitter<{ change: [StoredKeyset]; installed: [StoredKeyset] }> {
  readonly #storage: KeysetStorage;
  readonly #options: KeysetManagerOptions;
  readonly #now: () => Date;
  readonly #warn: (message: string, error?: unknown) => void;
  readonly #floor = new VersionFloor();
  readonly #cache: KeysetCache;
  readonly #pruneTimer: PruneTimer;
  #unwatch: (() => Promise<void>) | null = null;
  #sealing: Promise<SealingKeys> | undefined;
  /** Updates that read what storage holds now. */
  readonly #fromStorage: KeysetSwap = {
    read: () => this.#cache.reload(),
    swap: (current, next) => this.#swap(current, next),
  };
  /** Updates that may start from the cache (pruning after each write): a lost race re-reads storage. */
  readonly #fromCache: KeysetSwap = {
    read: () => this.#cache.current(),
    swap: (current, next) => this.#swap(current, next),
  };

  constructor(options: KeysetManagerOptions) {
    super();
    this.#options = options;
    this.#storage = options.storage;
    this.#now = options.now ?? (() => new Date());
    this.#warn = (message, error) => options.onWarning?.(message, error);
    this.#cache = new KeysetCache({
      storage: options.storage,
      cacheTtlMs: options.cacheTtlMs,
      now: this.#now,
      hmac: options.hmac ?? nodeHmac,
      floor: this.#floor,
      onInstalled: (stored) => this.emit('installed', stored),
      onWarning: this.#warn,
    });
    this.#pruneTimer = new PruneTimer(this.#now, () => {
      this.pruneExpired().catch((error) => this.#warn('pruning expired keys failed', error));
    });
  }

  get storageKind(): 'env' | 'valkey' {
    return this.#storage.kind;
  }

  /** Loads (or bootstraps) the keyset and starts watching other replicas' changes. */
  async start(): Promise<StoredKeyset> {
    this.#unwatch = await this.#cache.watch();
    const stored = await this.#cache.reload();
    if (stored.keyset.version === 0) await this.#bootstrap();
    await this.#resealIfForeign();
    await this.pruneExpired();
    return this.#cache.current();
  }

  async stop(): Promise<void> {
    this.#pruneTimer.cancel();
    await this.#unwatch?.();
    this.#unwatch = null;
  }

  /** The keyset (cached). Serves the cache stale rather than failing when storage is unreachable. */
  keyset(): Promise<StoredKeyset> {
    return this.#cache.current();
  }

  /** Rotates to a new secret in one compare-and-swap, retrying when another replica wins the race. */
  async rotate(request: RotateRequest = {}): Promise<StoredKeyset> {
    const secret = request.secret ?? generateSecret();
    assertSecretStrength(secret);
    const kid = await computeKid(secret);
    return this.#update(
      rotateTo(
        { secret, kid, emergency: request.emergency },
        { now: this.#now, gracePeriodMs: this.#options.gracePeriodMs },
      ),
    );
  }

  /**
   * Scheduled rotation: rotates once when the active secret is older than `intervalMs`. Returns null when not
   * due or when another replica rotated first (losing the race is not an error).
   */
  async rotateIfDue(intervalMs: number): Promise<StoredKeyset | null> {
    const updater = rotateIfDue(intervalMs, { now: this.#now, gracePeriodMs: this.#options.gracePeriodMs });
    return (await updateKeyset(this.#fromStorage, updater)) ? this.keyset() : null;
  }

  /** Drops the previous key `kid` at once. */
  revoke(kid: string): Promise<StoredKeyset> {
    return this.#update(revoke(kid, this.#now));
  }

  /** Drops previous keys whose grace period has ended; schedules itself for the next expiry. */
  async pruneExpired(): Promise<void> {
    this.#pruneTimer.cancel();
    await updateKeyset(this.#fromCache, (stored) => {
      if (stored === null) return null;
      const pruned = pruneKeyset(stored.keyset, this.#now());
      return pruned === stored.keyset ? null : pruned;
    });
    const next = nextExpiry((await this.keyset()).keyset);
    if (next && this.#unwatch) this.#pruneTimer.scheduleAt(next);
  }

  async #update(updater: KeysetUpdater): Promise<StoredKeyset> {
    await updateKeyset(this.#fromStorage, updater);
    return this.keyset();
  }

  async #bootstrap(): Promise<void> {
    const first = await bootstrapKeyset(this.#storage, {
      now: this.#now,
      gracePeriodMs: this.#options.gracePeriodMs,
      onWarning: this.#warn,
    });
    // Losing this swap is fine: another replica bootstrapped first.
    await this.#swap(null, first);
    const stored = await this.#cache.reload();
    // The swap over "no keyset" also fails when storage holds part of a keyset: serving an empty keyset at
    // version 0 would look like a successful start.
    if (stored.keyset.version === 0) {
      throw new ControlPlaneError(
        'failed_precondition',
        `No keyset in storage and none could be created: ${this.#storage.describeMissingKeyset()}`,
      );
    }
  }

  /** The keys envelopes are made with; undefined without a signing key (env storage, no edges). */
  #sealingKeys(): Promise<SealingKeys> | undefined {
    const { keysetKey, signingKey } = this.#options;
    if (signingKey === undefined) return undefined;
    this.#sealing ??= importSigner(signingKey).then((signer) => ({ keysetKey, signer }));
    return this.#sealing;
  }

  async #resealIfForeign(): Promise<void> {
    const sealing = this.#sealingKeys();
    if (sealing === undefined) return;
    const reseal = resealUnder(await sealing, this.#now);
    let from = 0;
    const resealed = await updateKeyset(
      this.#fromStorage,
      (stored) => {
        from = stored?.keyset.version ?? 0;
        return reseal(stored);
      },
      'Too many concurrent changes while re-sealing the keyset',
    );
    if (resealed) this.#warn(resealWarning(from, (await this.keyset()).keyset.version));
  }

  /** Replaces `current` (null: none stored) by `proposed`; false when storage no longer holds `current`. */
  async #swap(current: Keyset | null, proposed: Keyset): Promise<boolean> {
    const next = this.#floor.raise(current, proposed);
    const sealing = this.#sealingKeys();
    const envelope = sealing === undefined ? null : await sealKeyset(next, await sealing);
    const stored = { keyset: next, envelope };
    const changes = this.#cache.changes;
    if (!(await this.#storage.compareAndSwap(current?.version ?? 0, stored))) {
      this.#cache.markStale();
      await this.#cache.dropIfRolledBack();
      return false;
    }
    await this.#cache.install(stored, changes);
    this.emit('change', stored);
    if (this.#unwatch) this.pruneExpired().catch((error) => this.#warn('pruning failed', error));
    return true;
  }
}
