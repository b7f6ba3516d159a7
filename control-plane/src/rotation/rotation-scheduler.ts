/**
 * Scheduled rotation every ROTATION_INTERVAL, measured from the active secret's creation (a restart does not
 * reset the clock). A lock in storage with expiry lets exactly one replica rotate; the others find the new
 * secret on their next look and go back to sleep.
 */
import type { KeysetManager } from '../keyset/keyset-manager.ts';
import type { KeysetStorage, StoredKeyset } from '../storage/keyset-storage.ts';
import { msUntilRotationDue } from './rotation-due.ts';

export interface RotationSchedulerOptions {
  manager: KeysetManager;
  storage: KeysetStorage;
  intervalMs: number;
  /** Longest sleep between looks (so a secret rotated elsewhere, or a changed clock, is noticed). */
  maxSleepMs?: number;
  now?: () => Date;
  onRotated?: (stored: StoredKeyset) => void;
  onError?: (error: unknown) => void;
}

const LOCK_TTL_MS = 60_000;

export class RotationScheduler {
  readonly #options: RotationSchedulerOptions;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;

  constructor(options: RotationSchedulerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Rotates if due and this replica holds the lock. Returns the new keyset, or null. */
  async tick(): Promise<StoredKeyset | null> {
    const { manager, storage, intervalMs } = this.#options;
    if ((await this.#msUntilDue()) > 0) return null;
    if (!(await storage.tryLock('scheduled-rotation', LOCK_TTL_MS))) return null;
    const rotated = await manager.rotateIfDue(intervalMs);
    if (rotated) this.#options.onRotated?.(rotated);
    return rotated;
  }

  async #msUntilDue(): Promise<number> {
    const { keyset } = await this.#options.manager.keyset();
    return msUntilRotationDue(keyset, this.#options.intervalMs, this.#options.now?.() ?? new Date());
  }

  async #loop(): Promise<void> {
    if (this.#stopped) return;
    let sleep = this.#options.maxSleepMs ?? 60 * 60_000;
    try {
      await this.tick();
      sleep = Math.min(sleep, Math.max(await this.#msUntilDue(), 1_000));
    } catch (error) {
      this.#options.onError?.(error);
      sleep = Math.min(sleep, 30_000);
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#loop(), sleep);
    this.#timer.unref();
  }
}
