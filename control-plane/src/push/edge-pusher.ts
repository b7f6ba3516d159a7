/**
 * Pushes the keyset envelope to every EDGE_URLS target in parallel: a timeout per target, and retries with
 * exponential backoff and full jitter for the ones that failed, without holding up the others. Pushes are
 * idempotent (an edge answers 200 for the keyset it already holds, 409 for an older version), so a duplicate push
 * from a second replica costs one small request and changes nothing.
 *
 * An edge that reports a version at or above the pushed one that storage never held (a keyset written before a
 * restore from a backup, or sealed by someone else) is not behind and not confirmed either: with `moveAbove`,
 * the pusher has the keyset written again above every version an edge reported and pushes that (SPEC section 9).
 *
 * Each answer also feeds the inventory of what the edge holds: the kids of the confirmed keyset and the edge's
 * clock. The clock offset is the edge's `time` minus the midpoint of the request on this process's clock; the
 * edge read its clock somewhere between sending and receiving, so the true offset lies within half the round
 * trip of it (plus a millisecond of clock resolution).
 */
import type { StoredKeyset } from '../storage/keyset-storage.ts';

export interface EdgeTargetState {
  url: string;
  confirmedVersion: number;
  lastError: string;
  /** When the edge last confirmed holding the pushed keyset or a newer one. */
  lastSuccessAt: Date | null;
  /** The kids of the keyset at `confirmedVersion` as the edge named them; null when it did not (an older edge). */
  kids: string[] | null;
  /** The edge's clock minus this process's, in ms, from its last answer carrying its clock; null: unknown. */
  clockOffsetMs: number | null;
  /** The round trip of that answer in ms: the true offset is within half of it (plus 1 ms) of `clockOffsetMs`. */
  rttMs: number | null;
  /**
   * The version the edge named in its last answer naming one (200 or 409), even one above what this process
   * holds, which `confirmedVersion` never takes; 0 until then.
   */
  reportedVersion: number;
}

/** What /healthz and GetKeyset report of one edge (null: nothing to report yet, or unknown). */
export interface EdgeTargetReport {
  url: string;
  confirmed_version: number;
  last_error: string | null;
  last_success_at: string | null;
  kids: string[] | null;
  clock_offset_ms: number | null;
  rtt_ms: number | null;
}

/** One edge's state as the control plane reports it. */
export function edgeTargetReport(state: EdgeTargetState): EdgeTargetReport {
  return {
    url: state.url,
    confirmed_version: state.confirmedVersion,
    last_error: state.lastError || null,
    last_success_at: state.lastSuccessAt?.toISOString() ?? null,
    kids: state.kids === null ? null : [...state.kids],
    clock_offset_ms: state.clockOffsetMs,
    rtt_ms: state.rttMs,
  };
}

export interface PushOutcome {
  url: string;
  confirmed: boolean;
  version: number;
  error: string;
}

/** One edge's outcome as the round sees it: `reported` is the version a 409 named (the one the edge holds). */
interface RoundOutcome extends PushOutcome {
  reported: number;
}

/** Versions an edge reports at or above this are ignored: the next keyset could not be numbered above them. */
const MAX_REPORTED_VERSION = Number.MAX_SAFE_INTEGER - 1;

/** Rounds of "move above, push again" one push may take before it reports the edges still not confirmed. */
export const MOVE_ABOVE_ROUNDS = 3;

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
  /** This process's wall clock, epoch ms: what edge clocks are compared with. */
  now?: () => number;
  /** After each PUT /keyset: whether it confirmed, and how long it took (ms, until the answer or the error). */
  onAttempt?: (url: string, ok: boolean, durationMs: number) => void;
  /**
   * Called when an edge reports holding `reported` >= the pushed version with other content: returns the keyset
   * to push instead (storage's newer one, or the keyset written again above `reported`). Without it a 409
   * naming a newer version counts as confirmed (another replica's push).
   */
  moveAbove?: (reported: number, pushed: StoredKeyset) => Promise<StoredKeyset>;
}

export class EdgePusher {
  readonly #targets: Map<string, EdgeTargetState>;
  readonly #options: Required<Omit<EdgePusherOptions, 'urls' | 'onAttempt' | 'moveAbove'>> &
    Pick<EdgePusherOptions, 'onAttempt' | 'moveAbove'>;
  /** Newest envelope per target still being retried in the background. */
  readonly #pending = new Map<string, StoredKeyset>();
  /** The round in flight, shared by everyone asking to push the same version (the RPC and the change event). */
  #round: { version: number; outcome: Promise<RoundOutcome[]> } | null = null;
  #stopped = false;

  constructor(options: EdgePusherOptions) {
    this.#targets = new Map(options.urls.map((url) => [url, newTargetState(url)]));
    this.#options = {
      timeoutMs: options.timeoutMs ?? 2_000,
      retries: options.retries ?? 2,
      backgroundRetries: options.backgroundRetries ?? 8,
      baseDelayMs: options.baseDelayMs ?? 50,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      fetch: options.fetch ?? fetch,
      now: options.now ?? Date.now,
      onAttempt: options.onAttempt,
      moveAbove: options.moveAbove,
    };
  }

  get targets(): EdgeTargetState[] {
    return [...this.#targets.values()].map((state) => ({
      ...state,
      kids: state.kids === null ? null : [...state.kids],
    }));
  }

  /**
   * Makes `urls` the targets: new ones start unconfirmed, ones not listed are forgotten (their background retries
   * stop at the next attempt). Returns the URLs that were added. Used as edges register and their leases lapse.
   */
  syncTargets(urls: readonly string[]): string[] {
    const wanted = new Set(urls);
    for (const url of this.#targets.keys()) {
      if (!wanted.has(url)) {
        this.#targets.delete(url);
        this.#pending.delete(url);
      }
    }
    const added = urls.filter((url) => !this.#targets.has(url));
    for (const url of added) this.#targets.set(url, newTargetState(url));
    return added;
  }

  /** Ends background retries: a stopped control plane must not go on pushing what it held. */
  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
  }

  /**
   * Pushes to every target; resolves when each has confirmed or used up its foreground retries. An edge holding
   * another keyset at or above the pushed version moves the keyset above it (`moveAbove`) and the round goes
   * again, at most MOVE_ABOVE_ROUNDS times; edges still not confirmed then are reported so.
   */
  async pushAll(stored: StoredKeyset): Promise<PushOutcome[]> {
    let pushed = stored;
    let outcome = await this.#pushRound(pushed);
    const moveAbove = this.#options.moveAbove;
    for (let round = 0; moveAbove && round < MOVE_ABOVE_ROUNDS; round++) {
      const reported = Math.max(0, ...outcome.filter((edge) => !edge.confirmed).map((edge) => edge.reported));
      if (reported < pushed.keyset.version || this.#stopped) break;
      pushed = await moveAbove(reported, pushed);
      outcome = await this.#pushRound(pushed);
    }
    return outcome.map(({ url, confirmed, version, error }) => ({ url, confirmed, version, error }));
  }

  async #pushRound(stored: StoredKeyset): Promise<RoundOutcome[]> {
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

  async #pushTarget(url: string, stored: StoredKeyset): Promise<RoundOutcome> {
    const { retries, backgroundRetries } = this.#options;
    // A target forgotten mid-push (its lease lapsed) is still answered for, on a state nobody reads.
    const state = this.#targets.get(url) ?? newTargetState(url);
    let result: AttemptResult = { error: '', reported: 0 };
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.#backoff(attempt);
      result = await this.#attempt(url, stored);
      if (result.error === '') {
        // After a 409 the edge holds something newer than this push: report what it holds.
        return { url, confirmed: true, version: state.confirmedVersion, error: '', reported: 0 };
      }
      // The edge holds another keyset at or above this version: asking again changes nothing.
      if (result.reported > 0) break;
    }
    if (result.reported === 0) this.#retryInBackground(url, stored, backgroundRetries);
    return { url, confirmed: false, version: state.confirmedVersion, ...result };
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
        if ((await this.#attempt(url, latest)).error === '' && this.#pending.get(url) === latest) break;
      }
      this.#pending.delete(url);
    })();
  }

  /**
   * One PUT /keyset; `error` is '' on success, else a short error for state and logs. `reported` is the version
   * an edge said it holds when that is at or above the pushed one and not confirmed as the pushed keyset.
   */
  async #attempt(url: string, stored: StoredKeyset): Promise<AttemptResult> {
    // A target forgotten mid-push (its lease lapsed) is still answered for, on a state nobody reads.
    const state = this.#targets.get(url) ?? newTargetState(url);
    const pushedVersion = stored.keyset.version;
    let error = '';
    let reported = 0;
    const sentAt = this.#options.now();
    const started = performance.now();
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
      } else {
        // A body that never arrives is a timeout, not a confirmation: the status alone vouches for nothing.
        const body = (await response.json().catch((cause: Error) => {
          if (cause.name === 'TimeoutError' || cause.name === 'AbortError') throw cause;
          return {};
        })) as { version?: unknown; kids?: unknown; time?: unknown };
        const rtt = performance.now() - started;
        const named = Number(body.version);
        const edgeTime = reportedTime(body.time);
        if (edgeTime !== null) {
          state.clockOffsetMs = Math.round(edgeTime - (sentAt + rtt / 2));
          state.rttMs = Math.ceil(rtt);
        }
        // A version no keyset can carry (a compromised edge's 1e300) must not become the control plane's floor.
        const held = Number.isSafeInteger(named) && named > 0 && named < MAX_REPORTED_VERSION ? named : 0;
        // 409 naming the pushed version: the edge holds that version with other content (SPEC section 9).
        // 409 naming a newer one: another replica's push, or, when `moveAbove` finds storage never held it, a
        // keyset from before a restore; `moveAbove` decides, without it the edge counts as not behind.
        const answered = response.status === 200 || response.status === 409;
        if (answered && held > 0) state.reportedVersion = held;
        const conflict =
          (response.status === 409 && held === pushedVersion) ||
          (answered && held > pushedVersion && this.#options.moveAbove !== undefined);
        if (response.status === 409 && held === 0) {
          error = 'HTTP 409 without a usable version';
        } else if (conflict) {
          reported = held;
          error = `keyset_conflict: edge holds version ${held}`;
        } else if (answered) {
          const confirmed = held || pushedVersion;
          // The kids describe the version this answer confirmed; an answer about an older one leaves them be.
          if (confirmed >= state.confirmedVersion) {
            state.kids = response.status === 200 ? reportedKids(body.kids) : null;
          }
          state.confirmedVersion = Math.max(state.confirmedVersion, confirmed);
          state.lastSuccessAt = new Date(this.#options.now());
        } else {
          error = `HTTP ${response.status}`;
        }
      }
    } catch (cause) {
      error =
        (cause as Error).name === 'TimeoutError' ? 'timeout' : `unreachable: ${(cause as Error).message}`;
    }
    state.lastError = error;
    this.#options.onAttempt?.(url, error === '', performance.now() - started);
    return { error, reported };
  }

  #backoff(attempt: number): Promise<void> {
    const cap = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** attempt);
    return new Promise((resolve) => setTimeout(resolve, Math.random() * cap).unref());
  }
}

function newTargetState(url: string): EdgeTargetState {
  return {
    url,
    confirmedVersion: 0,
    lastError: '',
    lastSuccessAt: null,
    kids: null,
    clockOffsetMs: null,
    rttMs: null,
    reportedVersion: 0,
  };
}

/** At most this many kids, each of base64url characters and at most this long (what a keyset may hold). */
const MAX_REPORTED_KIDS = 1000;
const KID_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/** The `kids` an edge answered, or null when it named none or anything but a list of plausible kids. */
function reportedKids(value: unknown): string[] | null {
  if (!Array.isArray(value) || value.length > MAX_REPORTED_KIDS) return null;
  return value.every((kid) => typeof kid === 'string' && KID_PATTERN.test(kid)) ? [...value] : null;
}

/** Latest epoch ms an edge's `time` may name (the year 9999); beyond it, or not a number, the time is unknown. */
const MAX_EDGE_TIME = 253_402_300_799_999;

function reportedTime(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= MAX_EDGE_TIME
    ? value
    : null;
}

/** A 3xx but 304, or the opaque answer a browser-style fetch gives for one under `redirect: 'manual'`. */
function isRedirect({ status, type }: Response): boolean {
  return type === 'opaqueredirect' || (status >= 300 && status < 400 && status !== 304);
}

interface AttemptResult {
  error: string;
  reported: number;
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
