/**
 * Pushes the keyset envelope to every EDGE_URLS target in parallel: a timeout per target, and retries with
 * exponential backoff and full jitter for the ones that failed, without holding up the others. Pushes are
 * idempotent (an edge answers 200 for a version it already holds, 409 for an older one), so a duplicate push
 * from a second replica costs one small request and changes nothing.
 */
import type { StoredKeyset } from '../storage/keyset-storage.ts';

export interface EdgeTargetState {
  url: string;
  confirmedVersion: number;
  lastError: string;
  lastSuccessAt: Date | null;
}

/** What /healthz and GetKeyset report of one edge (null: nothing to report yet). */
export interface EdgeTargetReport {
  url: string;
  confirmed_version: number;
  last_error: string | null;
  last_success_at: string | null;
}

/** One edge's state as the control plane reports it. */
export function edgeTargetReport(state: EdgeTargetState): EdgeTargetReport {
  return {
    url: state.url,
    confirmed_version: state.confirmedVersion,
    last_error: state.lastError || null,
    last_success_at: state.lastSuccessAt?.toISOString() ?? null,
  };
}

export interface PushOutcome {
  url: string;
  confirmed: boolean;
  version: number;
  error: string;
}

export interface EdgePusherOptions {
  urls: string[];
  timeoutMs?: number;
  /** Retries after the first attempt of a round that waits for the answer. */
  retries?: number;
  /** Further retries in the background after the round has answered. */
  backgroundRetries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: typeof fetch;
  onAttempt?: (url: string, ok: boolean) => void;
}

export class EdgePusher {
  readonly #targets: Map<string, EdgeTargetState>;
  readonly #options: Required<Omit<EdgePusherOptions, 'urls' | 'onAttempt'>> &
    Pick<EdgePusherOptions, 'onAttempt'>;
  /** Newest envelope per target still being retried in the background. */
  readonly #pending = new Map<string, StoredKeyset>();
  /** The round in flight, shared by everyone asking to push the same version (the RPC and the change event). */
  #round: { version: number; outcome: Promise<PushOutcome[]> } | null = null;
  #stopped = false;

  constructor(options: EdgePusherOptions) {
    this.#targets = new Map(
      options.urls.map((url) => [url, { url, confirmedVersion: 0, lastError: '', lastSuccessAt: null }]),
    );
    this.#options = {
      timeoutMs: options.timeoutMs ?? 2_000,
      retries: options.retries ?? 2,
      backgroundRetries: options.backgroundRetries ?? 8,
      baseDelayMs: options.baseDelayMs ?? 50,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      fetch: options.fetch ?? fetch,
      onAttempt: options.onAttempt,
    };
  }

  get targets(): EdgeTargetState[] {
    return [...this.#targets.values()].map((state) => ({ ...state }));
  }

  /** Ends background retries: a stopped control plane must not go on pushing what it held. */
  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
  }

  /** Pushes to every target; resolves when each has confirmed or used up its foreground retries. */
  async pushAll(stored: StoredKeyset): Promise<PushOutcome[]> {
    if (stored.envelope === null || this.#targets.size === 0 || this.#stopped) return [];
    if (this.#round?.version === stored.keyset.version) return this.#round.outcome;
    const outcome = Promise.all([...this.#targets.keys()].map((url) => this.#pushTarget(url, stored)));
    const round = { version: stored.keyset.version, outcome };
    this.#round = round;
    try {
      return await outcome;
    } finally {
      if (this.#round === round) this.#round = null;
    }
  }

  async #pushTarget(url: string, stored: StoredKeyset): Promise<PushOutcome> {
    const { retries, backgroundRetries } = this.#options;
    let error = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.#backoff(attempt);
      error = await this.#attempt(url, stored);
      if (error === '') {
        // After a 409 the edge holds something newer than this push: report what it holds.
        const version = this.#targets.get(url)?.confirmedVersion ?? stored.keyset.version;
        return { url, confirmed: true, version, error };
      }
    }
    this.#retryInBackground(url, stored, backgroundRetries);
    return { url, confirmed: false, version: this.#targets.get(url)?.confirmedVersion ?? 0, error };
  }

  #retryInBackground(url: string, stored: StoredKeyset, retries: number): void {
    const already = this.#pending.has(url);
    this.#pending.set(url, stored);
    if (already) return;
    void (async () => {
      for (let attempt = 1; attempt <= retries; attempt++) {
        await this.#backoff(attempt + this.#options.retries);
        const latest = this.#pending.get(url);
        if (this.#stopped || latest === undefined) break;
        if ((this.#targets.get(url)?.confirmedVersion ?? 0) >= latest.keyset.version) break;
        // Done only if nothing newer was queued while this attempt was in flight.
        if ((await this.#attempt(url, latest)) === '' && this.#pending.get(url) === latest) break;
      }
      this.#pending.delete(url);
    })();
  }

  /** One PUT /keyset; returns '' on success, else a short error for state and logs. */
  async #attempt(url: string, stored: StoredKeyset): Promise<string> {
    const state = this.#targets.get(url) as EdgeTargetState;
    let error = '';
    try {
      const response = await this.#options.fetch(keysetUrl(url), {
        method: 'PUT',
        headers: { 'content-type': 'application/jose' },
        body: stored.envelope,
        signal: AbortSignal.timeout(this.#options.timeoutMs),
        // Whatever a redirect points at is not the edge: following it would send the PUT wherever the answer
        // says (into an internal network, say) and count that place's answer as the edge's confirmation.
        redirect: 'manual',
      });
      if (isRedirect(response)) {
        await response.body?.cancel();
        error = `HTTP ${response.status}: edges must answer PUT /keyset themselves, not redirect`;
      } else if (response.status === 200 || response.status === 409) {
        // A body that never arrives is a timeout, not a confirmation: the status alone vouches for nothing.
        const body = (await response.json().catch((cause: Error) => {
          if (cause.name === 'TimeoutError' || cause.name === 'AbortError') throw cause;
          return {};
        })) as { version?: number };
        // 409: the edge already holds something newer (another replica's push); it is not behind.
        state.confirmedVersion = Math.max(
          state.confirmedVersion,
          Number(body.version) || stored.keyset.version,
        );
        state.lastSuccessAt = new Date();
      } else {
        await response.body?.cancel();
        error = `HTTP ${response.status}`;
      }
    } catch (cause) {
      error =
        (cause as Error).name === 'TimeoutError' ? 'timeout' : `unreachable: ${(cause as Error).message}`;
    }
    state.lastError = error;
    this.#options.onAttempt?.(url, error === '');
    return error;
  }

  #backoff(attempt: number): Promise<void> {
    const cap = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** attempt);
    return new Promise((resolve) => setTimeout(resolve, Math.random() * cap).unref());
  }
}

/** A 3xx but 304, or the opaque answer a browser-style fetch gives for one under `redirect: 'manual'`. */
function isRedirect({ status, type }: Response): boolean {
  return type === 'opaqueredirect' || (status >= 300 && status < 400 && status !== 304);
}

/**
 * Where an edge takes PUT /keyset: `keyset` under the base URL's path, so an edge mounted behind a gateway at
 * `https://gw.example/edge-1` (with or without the trailing slash) gets `https://gw.example/edge-1/keyset`.
 */
export function keysetUrl(base: string): URL {
  const url = new URL(base);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return new URL('keyset', url);
}
