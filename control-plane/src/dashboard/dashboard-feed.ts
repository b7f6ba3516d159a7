/**
 * When open dashboards get a new snapshot: on every change this process hears of (a keyset installed, whoever
 * wrote it; an edge's push answer), coalesced over a few milliseconds so that one rotation pushed to ten edges
 * is one snapshot, and at least every `refreshMs` so that what moves with time alone (a promotion becoming
 * blocked) shows too. `stop()` ends every stream, so that closing the HTTP server does not wait on them.
 */

export interface DashboardFeedOptions {
  /** Longest time between two snapshots of one stream. */
  refreshMs?: number;
  /** How long a change waits for the ones right behind it before streams are woken. */
  coalesceMs?: number;
  /** Streams open at once at most; more are refused (each holds a connection). */
  maxStreams?: number;
}

export interface DashboardSubscription {
  /** Resolves true at the next change or after refreshMs, false once the feed has stopped. */
  next(): Promise<boolean>;
  close(): void;
}

interface Subscriber {
  /** A change came since the last `next()` returned. */
  dirty: boolean;
  wake: (() => void) | null;
}

export class DashboardFeed {
  readonly #subscribers = new Set<Subscriber>();
  readonly #refreshMs: number;
  readonly #coalesceMs: number;
  readonly maxStreams: number;
  #pending: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(options: DashboardFeedOptions = {}) {
    this.#refreshMs = options.refreshMs ?? 30_000;
    this.#coalesceMs = options.coalesceMs ?? 50;
    this.maxStreams = options.maxStreams ?? 32;
  }

  get streams(): number {
    return this.#subscribers.size;
  }

  /** Something shown may have changed. */
  notify(): void {
    if (this.#pending !== null || this.#stopped) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      for (const subscriber of this.#subscribers) {
        subscriber.dirty = true;
        subscriber.wake?.();
      }
    }, this.#coalesceMs);
    this.#pending.unref();
  }

  /** Null when the feed has stopped or `maxStreams` are open. */
  subscribe(): DashboardSubscription | null {
    if (this.#stopped || this.#subscribers.size >= this.maxStreams) return null;
    const subscriber: Subscriber = { dirty: false, wake: null };
    this.#subscribers.add(subscriber);
    return {
      next: () =>
        new Promise<boolean>((resolve) => {
          if (this.#stopped || !this.#subscribers.has(subscriber)) return resolve(false);
          if (subscriber.dirty) {
            subscriber.dirty = false;
            return resolve(true);
          }
          const timer = setTimeout(() => done(), this.#refreshMs);
          const done = () => {
            clearTimeout(timer);
            subscriber.wake = null;
            subscriber.dirty = false;
            resolve(!this.#stopped && this.#subscribers.has(subscriber));
          };
          subscriber.wake = done;
        }),
      close: () => {
        this.#subscribers.delete(subscriber);
        subscriber.wake?.();
      },
    };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#pending !== null) clearTimeout(this.#pending);
    this.#pending = null;
    for (const subscriber of this.#subscribers) subscriber.wake?.();
    this.#subscribers.clear();
  }
}
