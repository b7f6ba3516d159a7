/**
 * The keyset this control plane serves and changes: one active key, at most one standby key and previous ones in
 * grace, in whichever storage. Reads go through the cache (keyset-cache.ts); every change is one updater applied by the storage's
 * compare-and-swap loop (storage/update-keyset.ts), numbered above every version held (version-floor.ts).
 */
import { EventEmitter } from 'node:events';
import {
  findActiveKey,
  type KeyAlg,
  type Keyset,
  legacyActiveSecret,
  type NewKey,
  nextExpiry,
  pruneKeyset,
} from '../../../shared/keyset.ts';
import { type SealingKeys, sealKeyset } from '../../../shared/keyset-envelope.ts';
import { keysetHash } from '../../../shared/keyset-hash.ts';
import { importSigner } from '../../../shared/keyset-signing-key.ts';
import { nodeEnvelopeCrypto, nodeSealingCrypto } from '../../../shared/runtime/node-envelope.ts';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import type { VerifyPrimitive } from '../../../shared/verify-primitive.ts';
import type { AuditAction } from '../audit/audit-entry.ts';
import { ControlPlaneError } from '../errors.ts';
import { newKey } from '../rotation/new-key.ts';
import { revoke } from '../rotation/revoke-key.ts';
import { rotateTo } from '../rotation/rotate-secret.ts';
import { type RotationTiming, rotateIfDue } from '../rotation/rotation-due.ts';
import { promoteWhenDue, stageWhenDue } from '../rotation/scheduled-steps.ts';
import { promoteTo, stageTo } from '../rotation/stage-promote.ts';
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
  primitive?: VerifyPrimitive;
  /** Called with a warning when the cache is served stale or a background task fails. */
  onWarning?: (message: string, error?: unknown) => void;
}

export interface RotateRequest {
  /** HS256 (the default), ES256 or EdDSA. */
  alg?: KeyAlg;
  /** HS256 only: omit to have the server generate 48 random bytes (base64). Key pairs are always generated. */
  secret?: string;
  emergency?: boolean;
  /** Who asked (the gRPC peer address), for the audit log. */
  actor?: string;
}

export interface StageRequest {
  alg: KeyAlg;
  /** HS256 only: omit to have the server generate one. Key pairs are always generated. */
  secret?: string;
  actor?: string;
}

export interface PromoteRequest {
  emergency?: boolean;
  actor?: string;
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
      primitive: options.primitive ?? nodeVerify,
      floor: this.#floor,
      onInstalled: (stored) => this.emit('installed', stored),
      onWarning: this.#warn,
    });
    this.#pruneTimer = new PruneTimer(this.#now, () => {
      this.pruneExpired().catch((error) => this.#warn('pruning expired keys failed', error));
    });
  }

  /** True when storage has not answered for longer than KEYSET_CACHE_TTL and the keyset held is past its age. */
  get staleBeyondTtl(): boolean {
    return this.#cache.staleBeyondTtl;
  }

  get storageKind(): 'env' | 'valkey' {
    return this.#storage.kind;
  }

  /** Loads (or bootstraps) the keyset and starts watching other replicas' changes. */
  async start(): Promise<StoredKeyset> {
    this.#unwatch = await this.#cache.watch();
    const stored = await this.#cache.reload();
    if (stored.keyset.version === 0) await this.#bootstrap();
    await this.#reconcileWithStorage();
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

  /** Rotates to a new key in one compare-and-swap, retrying when another replica wins the race. */
  async rotate(request: RotateRequest = {}): Promise<StoredKeyset> {
    const key = await newKey(request.alg ?? 'HS256', request.secret);
    return this.#update(
      rotateTo(
        { key, emergency: request.emergency },
        { now: this.#now, gracePeriodMs: this.#options.gracePeriodMs },
      ),
      {
        action: request.emergency ? 'rotate_emergency' : 'rotate',
        actor: request.actor ?? 'local',
        kid: key.kid,
      },
    );
  }

  /** Adds a standby key (`standby_exists` while there is one); returns the keyset and the new kid. */
  async stage(request: StageRequest): Promise<{ stored: StoredKeyset; kid: string }> {
    const key = await newKey(request.alg, request.secret);
    const stored = await this.#update(stageTo(key, this.#now), {
      action: 'stage',
      actor: request.actor ?? 'local',
      kid: key.kid,
    });
    return { stored, kid: key.kid };
  }

  /** Makes the standby key `kid` active; the old active key goes into grace (or, with emergency, away). */
  promote(kid: string, request: PromoteRequest = {}): Promise<StoredKeyset> {
    return this.#update(
      promoteTo(kid, {
        now: this.#now,
        gracePeriodMs: this.#options.gracePeriodMs,
        emergency: request.emergency,
      }),
      { action: request.emergency ? 'promote_emergency' : 'promote', actor: request.actor ?? 'local', kid },
    );
  }

  /**
   * Scheduled rotation: rotates once when the active secret is older than `intervalMs`. Returns null when not
   * due or when another replica rotated first (losing the race is not an error).
   */
  async rotateIfDue(intervalMs: number): Promise<StoredKeyset | null> {
    const updater = rotateIfDue(intervalMs, { now: this.#now, gracePeriodMs: this.#options.gracePeriodMs });
    const audited: KeysetSwap = {
      read: this.#fromStorage.read,
      swap: (current, next) =>
        this.#swap(current, next, current?.version ?? 0, {
          action: 'rotate_scheduled',
          actor: 'scheduler',
          kid: findActiveKey(next)?.kid ?? '',
        }),
    };
    return (await updateKeyset(audited, updater)) ? this.keyset() : null;
  }

  /**
   * Scheduled staging (ROTATION_LEAD): adds `key` as the standby key when the schedule calls for it. Returns null
   * when it does not (not yet due, or another replica or an operator staged first).
   */
  stageScheduled(key: NewKey, timing: RotationTiming): Promise<StoredKeyset | null> {
    return this.#applyScheduled(stageWhenDue(key, timing, this.#now), { action: 'stage', kid: key.kid });
  }

  /**
   * Scheduled promotion of the standby key `kid` once due (the caller has had every edge confirm it). Returns
   * null when it is no longer the standby key (another replica promoted it, or it was revoked) or not yet due.
   */
  promoteScheduled(kid: string, timing: RotationTiming): Promise<StoredKeyset | null> {
    const updater = promoteWhenDue(kid, timing, {
      now: this.#now,
      gracePeriodMs: this.#options.gracePeriodMs,
    });
    return this.#applyScheduled(updater, { action: 'promote', kid });
  }

  async #applyScheduled(
    updater: KeysetUpdater,
    action: Omit<AuditAction, 'actor'>,
  ): Promise<StoredKeyset | null> {
    const audited: KeysetSwap = {
      read: this.#fromStorage.read,
      swap: (current, next) =>
        this.#swap(current, next, current?.version ?? 0, { ...action, actor: 'scheduler' }),
    };
    return (await updateKeyset(audited, updater)) ? this.keyset() : null;
  }

  /** Drops the previous key `kid` at once; `actor` (the gRPC peer address) goes to the audit log. */
  revoke(kid: string, actor = 'local'): Promise<StoredKeyset> {
    return this.#update(revoke(kid, this.#now), { action: 'revoke', actor, kid });
  }

  /**
   * An edge holds keyset version `reported` (>= `pushed`) with other content: returns storage's keyset when it
   * is newer than `pushed` and not below `reported` (push that first), else writes the keyset again, same keys,
   * numbered above every version reported, so that edges take it (SPEC section 9).
   */
  async moveAbove(reported: number, pushed: number): Promise<StoredKeyset> {
    this.#floor.observeVersion(reported);
    await updateKeyset(this.#fromStorage, (stored) => {
      if (stored === null) return null;
      const { version } = stored.keyset;
      if (version > reported || (version === reported && version > pushed)) return null;
      return { ...stored.keyset, issued_at: this.#now().toISOString() };
    });
    return this.keyset();
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

  async #update(updater: KeysetUpdater, action: AuditAction): Promise<StoredKeyset> {
    const audited: KeysetSwap = {
      read: this.#fromStorage.read,
      swap: (current, next) => this.#swap(current, next, current?.version ?? 0, action),
    };
    await updateKeyset(audited, updater);
    return this.keyset();
  }

  async #bootstrap(): Promise<void> {
    const first = await bootstrapKeyset(this.#storage, {
      now: this.#now,
      gracePeriodMs: this.#options.gracePeriodMs,
      onWarning: this.#warn,
      publicKeysOnly: this.#options.signingKey !== undefined && this.#options.keysetKey === undefined,
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

  /**
   * After a partial restore (the keyset keys put back without `jwt_secrets:version`) the guard is ahead of the
   * keyset and every write would lose its compare-and-swap. When what is stored agrees with itself (the plain
   * active secret is the keyset's active key), the keyset is written again numbered above the guard; otherwise
   * start-up refuses, naming the keys to restore. New secrets are numbered above the history in either case.
   */
  async #reconcileWithStorage(): Promise<void> {
    const facts = await this.#storage.inspect?.();
    if (facts === undefined) return;
    this.#floor.observeSecretVersion(facts.highestSecretVersion);
    const stored = await this.#cache.reload();
    const held = stored.keyset.version;
    if (facts.guardVersion <= held) return;
    const consistent = facts.activeSecret === legacyActiveSecret(stored.keyset);
    const described = this.#storage.describeGuardAhead?.(facts.guardVersion, held, consistent) ?? '';
    if (!consistent) throw new ControlPlaneError('failed_precondition', described);
    this.#floor.observeVersion(facts.guardVersion);
    const next = { ...stored.keyset, issued_at: this.#now().toISOString() };
    if (!(await this.#swap(stored.keyset, next, facts.guardVersion))) {
      throw new ControlPlaneError(
        'conflict',
        `${described}; another writer changed it meanwhile, start again`,
      );
    }
    this.#warn(
      `${described}; wrote the stored keyset again as version ${(await this.keyset()).keyset.version}`,
    );
  }

  /** The keys envelopes are made with; undefined without a signing key (env storage, no edges). */
  #sealingKeys(): Promise<SealingKeys> | undefined {
    const { keysetKey, signingKey } = this.#options;
    if (signingKey === undefined) return undefined;
    // node:crypto seals in one turn, where WebCrypto takes a thread-pool hop per step.
    this.#sealing ??= importSigner(signingKey).then((signer) => ({
      keysetKey,
      signer,
      crypto: nodeSealingCrypto,
    }));
    return this.#sealing;
  }

  async #resealIfForeign(): Promise<void> {
    const sealing = this.#sealingKeys();
    if (sealing === undefined) return;
    const reseal = resealUnder(await sealing, this.#now);
    let from = 0;
    // Start-up has just read storage; a lost race re-reads it.
    const resealed = await updateKeyset(
      this.#fromCache,
      (stored) => {
        from = stored?.keyset.version ?? 0;
        return reseal(stored);
      },
      'Too many concurrent changes while re-sealing the keyset',
    );
    if (resealed) this.#warn(resealWarning(from, (await this.keyset()).keyset.version));
  }

  /**
   * Replaces `current` (null: none stored) by `proposed`, chained to it by `previous_hash`; false when storage
   * no longer holds `current`. `guard` is the version storage's compare-and-swap expects, the keyset's own but
   * for a reconcile; `action` is the admin action to log in the same step.
   */
  async #swap(
    current: Keyset | null,
    proposed: Keyset,
    guard = current?.version ?? 0,
    action?: AuditAction,
  ): Promise<boolean> {
    const { previous_hash: _, ...raised } = this.#floor.raise(current, proposed);
    const next: Keyset =
      current === null
        ? raised
        : { ...raised, previous_hash: await keysetHash(current, nodeEnvelopeCrypto.sha256) };
    const sealing = this.#sealingKeys();
    const envelope = sealing === undefined ? null : await sealKeyset(next, await sealing);
    const stored = { keyset: next, envelope };
    const changes = this.#cache.changes;
    if (!(await this.#storage.compareAndSwap(guard, stored, action))) {
      this.#cache.markStale();
      await this.#cache.dropIfRolledBack();
      return false;
    }
    this.#cache.wrote(next.version);
    await this.#cache.install(stored, changes);
    this.emit('change', stored);
    if (this.#unwatch) this.pruneExpired().catch((error) => this.#warn('pruning failed', error));
    return true;
  }
}
