/**
 * Scheduled rotation every ROTATION_INTERVAL, measured from the active key's creation (a restart does not reset
 * the clock). With ROTATION_LEAD (rotation-due.ts) it takes two steps: the next key, of the active key's
 * algorithm, is staged that long before it is due, and promoted when due once every EDGE_URLS target has
 * confirmed a keyset holding it (the check PromoteKey makes). Until then the promotion is blocked: logged,
 * reported (`status()`: /healthz, /metrics, GetKeyset) and tried again every `retryMs`, while the active key keeps
 * signing. A standby key an operator staged is promoted the same way instead of staging another. Without
 * ROTATION_LEAD the rotation is one step, as RotateSecret.
 *
 * Exactly one replica makes each step: a lock in storage per step and retry window, named after the key and the
 * window, so that a blocked promotion is retried by whichever replica comes first in the next window. Replicas
 * whose clocks straddle a window boundary may both pass it: storage's compare-and-swap then lets one write and
 * the other finds the step made, which is not an error.
 */
import { findActiveKey, type KeyAlg } from '../../../shared/keyset.ts';
import type { KeysetManager } from '../keyset/keyset-manager.ts';
import type { Logger } from '../logger.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import type { EdgePusher } from '../push/edge-pusher.ts';
import type { KeysetStorage, StoredKeyset } from '../storage/keyset-storage.ts';
import {
  confirmEdgesHold,
  describeUnconfirmed,
  type EdgeConfirmation,
  lastKnownConfirmation,
} from './edge-confirmation.ts';
import { newKey } from './new-key.ts';
import { nextRotationStep, type RotationStep, type RotationTiming } from './rotation-due.ts';
import type { RotationStatus } from './rotation-status.ts';

export interface RotationSchedulerOptions {
  manager: KeysetManager;
  storage: KeysetStorage;
  intervalMs: number;
  /** ROTATION_LEAD; 0 (the default): one-step rotation. */
  leadMs?: number;
  /** The EDGE_URLS targets that must confirm a standby key before the schedule promotes it. */
  pusher?: EdgePusher;
  /** How often a blocked promotion is tried again. */
  retryMs?: number;
  /** Longest sleep between looks (so a key rotated elsewhere, or a changed clock, is noticed). */
  maxSleepMs?: number;
  /** The control plane's clock, the one the keyset manager dates keys with. */
  now?: () => Date;
  logger?: Logger;
  metrics?: ControlPlaneMetrics;
}

/** What one look at the schedule did. `none`: nothing due, another replica holds this step, or it was made. */
export type TickResult =
  | { step: 'none' }
  | { step: 'rotated'; stored: StoredKeyset }
  | { step: 'staged'; stored: StoredKeyset; kid: string }
  | { step: 'promoted'; stored: StoredKeyset; kid: string }
  | ({ step: 'blocked'; kid: string } & EdgeConfirmation);

/** A blocked promotion is tried again this often (and the loop looks again this soon after a failure). */
export const PROMOTION_RETRY_MS = 30_000;
/** While the same edges block a promotion, the warning is repeated this often (not at every retry). */
const BLOCKED_WARNING_EVERY_MS = 10 * 60_000;
const ROTATION_LOCK_TTL_MS = 60_000;
const MIN_SLEEP_MS = 1_000;
const NONE: TickResult = { step: 'none' };

interface Blocked {
  kid: string;
  since: Date;
  confirmation: EdgeConfirmation;
  warnedAt: Date;
}

export class RotationScheduler {
  readonly #options: RotationSchedulerOptions;
  readonly #timing: RotationTiming;
  readonly #retryMs: number;
  readonly #now: () => Date;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  /** This replica's last refused promotion, while that key is still standby. */
  #blocked: Blocked | null = null;

  constructor(options: RotationSchedulerOptions) {
    this.#options = options;
    this.#timing = { intervalMs: options.intervalMs, leadMs: options.leadMs ?? 0 };
    this.#retryMs = options.retryMs ?? PROMOTION_RETRY_MS;
    this.#now = options.now ?? (() => new Date());
  }

  start(): void {
    this.#stopped = false;
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Makes the step that is due, if this replica holds its lock. */
  async tick(): Promise<TickResult> {
    const { keyset } = await this.#options.manager.keyset();
    const now = this.#now();
    const next = nextRotationStep(keyset, this.#timing);
    if (next.at > now) return NONE;
    if (next.step === 'rotate') return this.#rotate();
    // One lock per key and retry window: a failed or blocked step is the next window's to try again.
    const window = Math.floor(now.getTime() / this.#retryMs);
    if (next.step === 'stage') {
      const active = findActiveKey(keyset);
      const lock = `scheduled-stage:${active?.kid ?? 'none'}:${window}`;
      if (!(await this.#options.storage.tryLock(lock, this.#retryMs))) return NONE;
      return this.#stage(active?.alg ?? 'HS256');
    }
    if (!(await this.#options.storage.tryLock(`scheduled-promote:${next.kid}:${window}`, this.#retryMs)))
      return NONE;
    return this.#promote(next);
  }

  /**
   * How long the loop sleeps after a look that gave `last`: until the next step falls due; when it is due
   * already, a second if `last` made a step (the next one may be due at once), else, blocked or left to the
   * replica holding its lock, `retryMs`.
   */
  async msUntilNextLook(last: TickResult): Promise<number> {
    const next = nextRotationStep((await this.#options.manager.keyset()).keyset, this.#timing);
    const ms = next.at.getTime() - this.#now().getTime();
    if (ms > 0) return Math.max(ms, MIN_SLEEP_MS);
    return last.step === 'none' || last.step === 'blocked' ? this.#retryMs : MIN_SLEEP_MS;
  }

  /** The schedule as this replica sees it, for /healthz, /metrics and GetKeyset. */
  async status(): Promise<RotationStatus> {
    const { keyset } = await this.#options.manager.keyset();
    const next = nextRotationStep(keyset, this.#timing);
    if (next.step !== 'promote') {
      return {
        phase: 'idle',
        standby_kid: null,
        staged_at: null,
        stage_at: next.step === 'stage' ? next.at.toISOString() : null,
        due_at: next.dueAt.toISOString(),
        unconfirmed_edges: 0,
        unconfirmed_urls: [],
        blocked_since: null,
      };
    }
    const own = this.#blocked?.kid === next.kid ? this.#blocked : null;
    // A replica that has not tried this promotion itself knows the edges from its own pushes of the keyset.
    const confirmation =
      own?.confirmation ?? lastKnownConfirmation(this.#options.pusher?.targets ?? [], keyset.version);
    // Blocked once this replica was refused, or once a whole retry window has passed with the key still standby.
    const blocked = own !== null || this.#now().getTime() >= next.at.getTime() + this.#retryMs;
    return {
      phase: blocked ? 'blocked' : 'staged',
      standby_kid: next.kid,
      staged_at: next.stagedAt.toISOString(),
      stage_at: null,
      due_at: next.at.toISOString(),
      unconfirmed_edges: confirmation.missing.length,
      unconfirmed_urls: confirmation.missing,
      blocked_since: blocked ? (own?.since ?? next.at).toISOString() : null,
    };
  }

  async #rotate(): Promise<TickResult> {
    const { manager, storage, intervalMs, logger, metrics } = this.#options;
    if (!(await storage.tryLock('scheduled-rotation', ROTATION_LOCK_TTL_MS))) return NONE;
    const stored = await manager.rotateIfDue(intervalMs);
    if (stored === null) return NONE;
    metrics?.rotations.inc({ kind: 'scheduled' });
    const active = findActiveKey(stored.keyset);
    logger?.info(
      { version: stored.keyset.version, kid: active?.kid, alg: active?.alg, scheduled: true },
      'Rotating JWT secret',
    );
    return { step: 'rotated', stored };
  }

  async #stage(alg: KeyAlg): Promise<TickResult> {
    const { manager, logger, metrics } = this.#options;
    const key = await newKey(alg);
    const stored = await manager.stageScheduled(key, this.#timing);
    if (stored === null) {
      logger?.debug({ kid: key.kid }, 'scheduled staging already made (another replica or an operator)');
      return NONE;
    }
    metrics?.rotations.inc({ kind: 'scheduled_stage' });
    const next = nextRotationStep(stored.keyset, this.#timing);
    logger?.info(
      { version: stored.keyset.version, kid: key.kid, alg, scheduled: true, due_at: next.at.toISOString() },
      'Staging standby key',
    );
    return { step: 'staged', stored, kid: key.kid };
  }

  async #promote(next: Extract<RotationStep, { step: 'promote' }>): Promise<TickResult> {
    const { manager, pusher, logger, metrics } = this.#options;
    const confirmation = await confirmEdgesHold({ manager, pusher }, await manager.keyset(), next.kid);
    if (confirmation.missing.length > 0) {
      this.#noteBlocked(next, confirmation);
      return { step: 'blocked', kid: next.kid, ...confirmation };
    }
    const stored = await manager.promoteScheduled(next.kid, this.#timing);
    const blocked = this.#blocked;
    this.#blocked = null;
    if (stored === null) {
      logger?.debug({ kid: next.kid }, 'scheduled promotion already made (another replica or an operator)');
      return NONE;
    }
    metrics?.rotations.inc({ kind: 'scheduled_promote' });
    const active = findActiveKey(stored.keyset);
    logger?.info(
      {
        version: stored.keyset.version,
        kid: next.kid,
        alg: active?.alg,
        scheduled: true,
        ...(blocked?.kid === next.kid ? { blocked_since: blocked.since.toISOString() } : {}),
      },
      'Rotating JWT secret: promoting standby key',
    );
    return { step: 'promoted', stored, kid: next.kid };
  }

  #noteBlocked(next: Extract<RotationStep, { step: 'promote' }>, confirmation: EdgeConfirmation): void {
    const now = this.#now();
    const before = this.#blocked?.kid === next.kid ? this.#blocked : null;
    const warn =
      before === null ||
      before.confirmation.missing.join(' ') !== confirmation.missing.join(' ') ||
      now.getTime() - before.warnedAt.getTime() >= BLOCKED_WARNING_EVERY_MS;
    this.#blocked = {
      kid: next.kid,
      since: before?.since ?? now,
      confirmation,
      warnedAt: warn || before === null ? now : before.warnedAt,
    };
    if (!warn) return;
    this.#options.logger?.warn(
      {
        kid: next.kid,
        due_at: next.at.toISOString(),
        unconfirmed: confirmation.missing.length,
        edges: confirmation.total,
        not_confirmed: confirmation.missing,
        retry_s: this.#retryMs / 1000,
      },
      `Scheduled promotion of ${next.kid} blocked: ${describeUnconfirmed(confirmation)}; the active key keeps signing, retrying every ${this.#retryMs / 1000} s`,
    );
  }

  async #loop(): Promise<void> {
    if (this.#stopped) return;
    let sleep = this.#options.maxSleepMs ?? 60 * 60_000;
    try {
      sleep = Math.min(sleep, await this.msUntilNextLook(await this.tick()));
    } catch (error) {
      this.#options.logger?.warn({ cause: (error as Error).message }, 'scheduled rotation check failed');
      sleep = Math.min(sleep, this.#retryMs);
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#loop(), sleep);
    this.#timer.unref();
  }
}
