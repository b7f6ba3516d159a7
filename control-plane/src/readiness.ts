/**
 * The control plane's readiness, for GET /readyz and grpc.health.v1: ready while storage has answered within
 * KEYSET_CACHE_TTL and an active key is held. Liveness (GET /livez) checks nothing of this: a replica cut off
 * from Valkey is not helped by a restart, it is only taken out of rotation until storage answers again.
 */
import { EventEmitter } from 'node:events';
import { findActiveKey } from '../../shared/keyset.ts';
import { StorageUnavailableError } from './errors.ts';
import type { KeysetManager } from './keyset/keyset-manager.ts';

/**
 * `storage_unreachable`: storage has not answered for longer than KEYSET_CACHE_TTL (or never, and nothing is
 * cached). `no_keyset`: no active key. `keyset_unreadable`: storage answered with a keyset that does not load.
 */
export type NotReadyReason = 'storage_unreachable' | 'no_keyset' | 'keyset_unreadable';

export interface Readiness {
  ready: boolean;
  reasons: NotReadyReason[];
}

/** Reads the keyset as GET /keyset would (from the cache while fresh) and judges readiness from it. */
export async function readinessOf(
  manager: Pick<KeysetManager, 'keyset' | 'staleBeyondTtl'>,
): Promise<Readiness> {
  let keyset: Awaited<ReturnType<KeysetManager['keyset']>>['keyset'];
  try {
    ({ keyset } = await manager.keyset());
  } catch (error) {
    const reason = error instanceof StorageUnavailableError ? 'storage_unreachable' : 'keyset_unreadable';
    return { ready: false, reasons: [reason] };
  }
  const reasons: NotReadyReason[] = [];
  if (manager.staleBeyondTtl) reasons.push('storage_unreachable');
  if (findActiveKey(keyset) === undefined) reasons.push('no_keyset');
  return { ready: reasons.length === 0, reasons };
}

/**
 * Readiness checked every `intervalMs` (one check at a time; a request's check joins the one under way) and
 * announced on `change` whenever it differs from the last, so that gRPC health watchers see each transition.
 * The checks keep the keyset cache read, so storage coming back is noticed within a TTL even with no traffic.
 */
export class ReadinessMonitor extends EventEmitter<{ change: [Readiness] }> {
  readonly #manager: Pick<KeysetManager, 'keyset' | 'staleBeyondTtl'>;
  readonly #intervalMs: number;
  #last: Readiness | null = null;
  #checking: Promise<Readiness> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(options: { manager: Pick<KeysetManager, 'keyset' | 'staleBeyondTtl'>; intervalMs?: number }) {
    super();
    this.#manager = options.manager;
    this.#intervalMs = options.intervalMs ?? 1_000;
  }

  /** The last readiness found; null before the first check. */
  get last(): Readiness | null {
    return this.#last;
  }

  /** Readiness now. */
  check(): Promise<Readiness> {
    if (this.#checking) return this.#checking;
    const checking = readinessOf(this.#manager)
      .then((readiness) => {
        this.#record(readiness);
        return readiness;
      })
      .finally(() => {
        if (this.#checking === checking) this.#checking = null;
      });
    this.#checking = checking;
    return checking;
  }

  /** Checks once, then every `intervalMs` until `stop`. */
  async start(): Promise<Readiness> {
    const first = await this.check();
    this.#schedule();
    return first;
  }

  /** Stops polling; no `change` is announced after this. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.check()
        .catch(() => undefined)
        .finally(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref();
  }

  #record(readiness: Readiness): void {
    const last = this.#last;
    this.#last = readiness;
    if (this.#stopped) return;
    if (last && last.ready === readiness.ready && sameReasons(last.reasons, readiness.reasons)) return;
    this.emit('change', readiness);
  }
}

function sameReasons(a: NotReadyReason[], b: NotReadyReason[]): boolean {
  return a.length === b.length && a.every((reason, i) => reason === b[i]);
}
