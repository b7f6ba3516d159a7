/**
 * Pushes the revocation list to every edge (EDGE_URLS and the registered ones, PUT /revocations): to each edge the
 * batches above the serial it holds, so that after one RevokeTokens call an edge that was up to date receives that
 * one batch. An edge that holds less says so (409 `revocations_behind` with its serial) and gets the batches from
 * there, a fresh or restarted one a snapshot. Serials are the time of each call, so an edge still holding a list
 * from before a restore from a backup gets every batch written since, whose serials are above its own.
 */
import type { PushOutcome } from '../push/edge-pusher.ts';
import { fetchTransport, type PushTransport } from '../push/push-transport.ts';
import type { RevocationLog, RevocationState } from './revocation-log.ts';

export interface RevocationPusherOptions {
  /** The edges to push to, asked at each round (EDGE_URLS and the registered edges). */
  urls: () => readonly string[];
  log: RevocationLog;
  timeoutMs?: number;
  /** Requests in flight at once across all edges. */
  concurrency?: number;
  /** Attempts per edge within one round (the round answers after them). */
  attempts?: number;
  /** Further attempts in the background for edges the round left unconfirmed. */
  backgroundAttempts?: number;
  /** The keyset pusher's keep-alive transport, so both pushes share connections (default: fetch). */
  transport?: PushTransport;
  onAttempt?: (url: string, ok: boolean) => void;
}

/** An edge's serial as it answered, or why it did not. */
interface Answer {
  serial: number;
  /** '' when the edge now holds at least the pushed serial. */
  error: string;
  /** The edge asks for the batches above `serial`. */
  behind?: boolean;
}

export class RevocationPusher {
  readonly #options: Required<Omit<RevocationPusherOptions, 'onAttempt'>> &
    Pick<RevocationPusherOptions, 'onAttempt'>;
  readonly #urls = new Map<string, URL>();
  /** The serial each edge last said it holds; absent until it answered once. */
  readonly #held = new Map<string, number>();
  #slots: number;
  readonly #queue: (() => void)[] = [];
  #stopped = false;
  /** The newest state a background retry should push; retries of an older one stop. */
  #latest = 0;

  constructor(options: RevocationPusherOptions) {
    this.#options = {
      ...options,
      timeoutMs: options.timeoutMs ?? 2_000,
      concurrency: options.concurrency ?? 64,
      attempts: options.attempts ?? 3,
      backgroundAttempts: options.backgroundAttempts ?? 8,
      transport: options.transport ?? fetchTransport(fetch),
    };
    this.#slots = this.#options.concurrency;
  }

  /** The serial each edge last reported (for /healthz and the dashboard). */
  get held(): ReadonlyMap<string, number> {
    return this.#held;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Pushes `state` to every edge; resolves when each has confirmed it or used up its attempts. */
  async pushAll(state: RevocationState): Promise<PushOutcome[]> {
    this.#latest = Math.max(this.#latest, state.list.serial);
    const urls = this.#options.urls();
    // Edges no longer listed (a lease that lapsed) are forgotten.
    const listed = new Set(urls);
    for (const url of this.#held.keys()) {
      if (!listed.has(url)) {
        this.#held.delete(url);
        this.#urls.delete(url);
      }
    }
    const outcomes = await Promise.all(urls.map((url) => this.#pushEdge(url, state)));
    for (const outcome of outcomes) {
      if (!outcome.confirmed) this.#retryInBackground(outcome.url, state.list.serial);
    }
    return outcomes;
  }

  async #pushEdge(url: string, state: RevocationState): Promise<PushOutcome> {
    let error = '';
    // A behind edge names a lower serial each time, so one redirect normally suffices; the bound keeps an edge
    // that answers nonsense from holding the round.
    let redirects = 2;
    for (let attempt = 0; attempt < this.#options.attempts && !this.#stopped; attempt++) {
      const serial = state.list.serial;
      const held = this.#held.get(url);
      if (held !== undefined && held >= serial) return { url, confirmed: true, version: held, error: '' };
      // Unknown: send the newest batch alone (an edge that was up to date takes it); one that holds less says so.
      const newest = state.list.batches.at(-1)?.serial ?? serial;
      const from = held ?? Math.max(0, newest - 1);
      const document = await this.#options.log.since(from, state);
      if (document === undefined) return { url, confirmed: true, version: serial, error: '' };
      const answer = await this.#slot(() => this.#put(url, document, serial));
      error = answer.error;
      if (answer.error === '') return { url, confirmed: true, version: answer.serial, error: '' };
      if (answer.behind) {
        // Retried at once with the batches from the edge's serial: no backoff, the edge told us what it needs.
        if (answer.serial >= from || redirects-- === 0) break;
        attempt--;
      } else if (attempt + 1 < this.#options.attempts) {
        await delay(50 * 2 ** attempt);
      }
    }
    return { url, confirmed: false, version: this.#held.get(url) ?? 0, error };
  }

  /** One PUT /revocations. Learns the edge's serial from any answer that names one. */
  async #put(url: string, document: string, pushed: number): Promise<Answer> {
    let answer: Answer;
    try {
      let target = this.#urls.get(url);
      if (target === undefined) {
        target = revocationsUrl(url);
        this.#urls.set(url, target);
      }
      // As for keysets, a redirect is never followed: whatever it points at is not the edge.
      const response = await this.#options.transport.send({
        method: 'PUT',
        url: target,
        headers: { 'content-type': 'application/jose' },
        body: document,
        timeoutMs: this.#options.timeoutMs,
      });
      const body = (response.json ?? {}) as { serial?: unknown; error?: unknown };
      const serial = Number(body.serial);
      const named = Number.isSafeInteger(serial) && serial >= 0 ? serial : undefined;
      if (!response.redirect && named !== undefined && (response.status === 200 || response.status === 409)) {
        this.#held.set(url, named);
      }
      if (response.redirect) {
        answer = {
          serial: 0,
          error: `HTTP ${response.status}: edges must answer PUT /revocations themselves`,
        };
      } else if (response.status === 200 && named !== undefined && named >= pushed) {
        answer = { serial: named, error: '' };
      } else if (response.status === 409 && named !== undefined && body.error === 'revocations_behind') {
        answer = { serial: named, error: `revocations_behind: edge holds serial ${named}`, behind: true };
      } else {
        const code = typeof body.error === 'string' ? `: ${body.error.slice(0, 64)}` : '';
        answer = { serial: named ?? 0, error: `HTTP ${response.status}${code}` };
      }
    } catch (cause) {
      const error =
        (cause as Error).name === 'TimeoutError' ? 'timeout' : `unreachable: ${(cause as Error).message}`;
      answer = { serial: 0, error };
    }
    this.#options.onAttempt?.(url, answer.error === '');
    return answer;
  }

  #retryInBackground(url: string, serial: number): void {
    void (async () => {
      for (let attempt = 1; attempt <= this.#options.backgroundAttempts; attempt++) {
        await delay(Math.random() * Math.min(30_000, 100 * 2 ** attempt));
        if (this.#stopped || this.#latest > serial) return;
        if ((this.#held.get(url) ?? -1) >= serial) return;
        try {
          const state = await this.#options.log.current();
          if ((await this.#pushEdge(url, state)).confirmed) return;
        } catch {
          // Storage away: the next attempt asks again.
        }
      }
    })();
  }

  /** Runs `task` once fewer than `concurrency` requests are in flight. */
  async #slot<T>(task: () => Promise<T>): Promise<T> {
    if (this.#slots === 0) await new Promise<void>((resolve) => this.#queue.push(resolve));
    else this.#slots--;
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#slots++;
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Where an edge takes PUT /revocations: `revocations` under the base URL's path (as keysetUrl does). */
export function revocationsUrl(base: string): URL {
  const url = new URL(base);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return new URL('revocations', url);
}
