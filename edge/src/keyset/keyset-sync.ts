/**
 * Gets envelopes into the KeysetStore: pushes (PUT /keyset) and pulls from the configured sources, at cold
 * start, when no origin has confirmed the held keyset for KEYSET_TTL, every KEYSET_REVALIDATE (through the
 * location's copy of the origin's answer, where the Workers Cache API exists), on the cron trigger, and on unknown
 * kids (at most once per cooldown, like jose's remote JWKS). Concurrent pulls share one promise, and no source
 * can hold it longer than SOURCE_DEADLINE_MS.
 */

import type { Keyset } from '../../../shared/keyset.ts';
import { type OpeningKeys, openKeyset } from '../../../shared/keyset-envelope.ts';
import { EdgeError } from '../errors.ts';
import type { AcceptOutcome, KeysetStore } from './keyset-store.ts';
import { type KeysetSource, PULL_TIMEOUT_MS, type ValidatedEnvelope } from './sources/keyset-source.ts';
import type { KvKeysetMirror } from './sources/kv-keyset-mirror.ts';
import type { LocationCopy } from './sources/location-copy.ts';

export type PullReason = 'cold' | 'stale' | 'revalidate' | 'scheduled' | 'unknown_kid';

/** How one source's answer to a pull went: a newer keyset taken from it, nothing newer, or no usable answer. */
export type PullOutcome = 'taken' | 'unchanged' | 'failed';

/** At most one pull per this long for tokens with a kid the ring does not know. */
export const UNKNOWN_KID_COOLDOWN_MS = 30_000;
/** Cold and TTL pulls are not retried sooner than this (or KEYSET_TTL, if shorter) after an attempt, so a dead
 * origin is not hammered. */
export const RETRY_INTERVAL_MS = 5_000;
/** A source that has not answered by then counts as failed (its own timeout is PULL_TIMEOUT_MS; KV has none),
 * so a pull that never settles cannot hold every later pull, and the requests waiting on it, for ever. */
export const SOURCE_DEADLINE_MS = 2 * PULL_TIMEOUT_MS;

export interface KeysetSyncOptions {
  store: KeysetStore;
  /** KEYSET_KEY(s) and KEYSET_VERIFY_KEY(s): a keyset is taken only signed by one of the latter. */
  keys: OpeningKeys;
  keysetTtlMs: number;
  /** KEYSET_REVALIDATE; Infinity when off. */
  revalidateMs?: number;
  now: () => number;
  /** KEYSET_URL and Upstash, in that order. */
  origins: readonly KeysetSource[];
  mirror?: KvKeysetMirror;
  /** The location's copy of the origin's answer (Workers Cache API); absent where there is no such cache. */
  locationCopy?: LocationCopy;
  log: (message: string) => void;
  /** Told of each source's answer to each pull (the edge's counters). */
  onPull?: (source: string, outcome: PullOutcome) => void;
  /**
   * Runs with every pull, in the same shared promise (a request that waits for the pull waits for this too): the
   * revocation list's pull. Bounded by SOURCE_DEADLINE_MS; it reports its own failures, and a throw is only logged.
   */
  alongside?: (reason: PullReason) => Promise<void>;
}

export interface PullReport {
  reason: PullReason;
  /** The held version after the pull. */
  version: number;
  taken: boolean;
  /** Names of the sources that failed, with the reason (never secret material). */
  failures: string[];
  /** Where a revalidation's answer came from: the location's copy, or the origins themselves. */
  via?: 'location' | 'origin';
}

/** Whoever gave an answer to a pull: a source, or the location's copy. */
type Answerer = Pick<KeysetSource, 'name' | 'forget'>;

export interface PushResult {
  outcome: AcceptOutcome;
  version: number;
}

export class KeysetSync {
  readonly #o: KeysetSyncOptions;
  #inflight: Promise<PullReport> | undefined;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastUnknownKidPullAt = Number.NEGATIVE_INFINITY;
  #lastRevalidationAt = Number.NEGATIVE_INFINITY;

  constructor(options: KeysetSyncOptions) {
    this.#o = options;
  }

  get hasSources(): boolean {
    return this.#o.origins.length > 0 || this.#o.mirror !== undefined;
  }

  /** Opens and takes a pushed envelope; throws the envelope's KeywardError or `keyset_conflict`. */
  async push(envelope: string): Promise<PushResult> {
    // The held keyset's kids were checked against their keys when it was taken: only new keys are hashed.
    const keyset = await openKeyset(envelope, this.#o.keys, this.#o.store.ring?.keyset);
    const outcome = await this.#o.store.accept(keyset);
    return { outcome, version: keyset.version };
  }

  /** Copies a taken envelope to KV, if bound. Never throws. */
  async publish(envelope: string, version: number): Promise<void> {
    if (this.#o.mirror === undefined) return;
    try {
      await this.#o.mirror.publish(envelope, version);
    } catch (error) {
      this.#o.log(`keyset: writing KV failed: ${describe(error)}`);
    }
  }

  /** Epoch ms at which the last pull that asked the origins (or read the location's copy of their answer) began. */
  get lastRevalidationAt(): number {
    return this.#lastRevalidationAt;
  }

  /**
   * Called before serving a request: without a keyset, waits for a pull; when no origin has confirmed the held
   * one for KEYSET_TTL, or KEYSET_REVALIDATE has passed since the origins were last asked, hands a pull to
   * `background` and serves with the held keyset meanwhile. undefined when there is nothing to wait for (the
   * common case, every request with a usable keyset held): no promise, no microtask on the verify hot path.
   */
  beforeRequest(background: (task: Promise<unknown>) => void): Promise<void> | undefined {
    if (!this.hasSources) return undefined;
    const { store } = this.#o;
    // Without a keyset, or past KEYSET_MAX_STALENESS (treated like a cold start), the request waits for a pull
    // that asks the origins too (at most one per retry interval; meanwhile requests are answered 503 at once).
    if (store.ring === undefined || store.isTooStale()) {
      if (this.#inflight !== undefined) return this.#inflight.then(() => undefined);
      return this.#mayRetry() ? this.refresh('cold').then(() => undefined) : undefined;
    }
    if (this.#inflight !== undefined) return undefined;
    const now = this.#o.now();
    // Revalidation first: an isolate that keeps taking the location's copy never confirms, and with KV bound its
    // TTL pulls ask KV only, so TTL staleness must not shut the origins out.
    if (this.#revalidationDue(now)) background(this.refresh('revalidate'));
    else if (now - store.confirmedAt >= this.#o.keysetTtlMs && this.#mayRetry()) {
      background(this.refresh('stale'));
    }
    return undefined;
  }

  /** A pull for a token whose kid is not in the ring; false when none ran (no sources, or cooling down). */
  async refreshForUnknownKid(): Promise<boolean> {
    if (!this.hasSources) return false;
    if (this.#inflight !== undefined) {
      await this.#inflight;
      return true;
    }
    const now = this.#o.now();
    if (now - this.#lastUnknownKidPullAt < UNKNOWN_KID_COOLDOWN_MS) return false;
    this.#lastUnknownKidPullAt = now;
    await this.refresh('unknown_kid');
    return true;
  }

  /** Pulls now (joining a pull already running). Never throws; failures are in the report and the log. */
  refresh(reason: PullReason): Promise<PullReport> {
    if (this.#inflight !== undefined) return this.#inflight;
    this.#lastAttemptAt = this.#o.now();
    if (this.#sourcesFor(reason).some((source) => this.#o.origins.includes(source))) {
      this.#lastRevalidationAt = this.#lastAttemptAt;
    }
    const run = Promise.all([this.#pull(reason), this.#alongside(reason)])
      .then(([report]) => report)
      .finally(() => {
        this.#inflight = undefined;
      });
    this.#inflight = run;
    return run;
  }

  async #alongside(reason: PullReason): Promise<void> {
    if (this.#o.alongside === undefined) return;
    try {
      await withDeadline(this.#o.alongside(reason));
    } catch (error) {
      this.#o.log(`keyset: pull (${reason}) alongside failed: ${describe(error)}`);
    }
  }

  #revalidationDue(now: number): boolean {
    const interval = this.#o.revalidateMs ?? Number.POSITIVE_INFINITY;
    return this.#o.origins.length > 0 && now - this.#lastRevalidationAt >= interval;
  }

  #mayRetry(): boolean {
    return this.#o.now() - this.#lastAttemptAt >= Math.min(RETRY_INTERVAL_MS, this.#o.keysetTtlMs);
  }

  #sourcesFor(reason: PullReason): KeysetSource[] {
    const { origins, mirror } = this.#o;
    const withMirror = mirror === undefined ? [...origins] : [mirror, ...origins];
    switch (reason) {
      case 'stale':
        // With KV bound, isolates refresh from KV and the cron trigger refreshes KV from the origin.
        return mirror === undefined ? [...origins] : [mirror];
      case 'revalidate':
        return [...origins];
      case 'scheduled':
        return origins.length > 0 ? [...origins] : withMirror;
      default:
        return withMirror;
    }
  }

  async #pull(reason: PullReason): Promise<PullReport> {
    const copy = reason === 'revalidate' ? this.#o.locationCopy : undefined;
    if (copy !== undefined) {
      const copied = await this.#readCopy(copy);
      if (copied !== undefined) return copied;
    }
    const startedAt = this.#o.now();
    const sources = this.#sourcesFor(reason);
    const pulled = await Promise.allSettled(sources.map((source) => withDeadline(source.pull())));
    const outcome = await this.#take(
      reason,
      sources.map((source, index) => ({
        source,
        result: pulled[index] as PromiseSettledResult<string | undefined>,
      })),
    );
    if (copy !== undefined) {
      await this.#writeCopy(copy, outcome.served, startedAt);
      return { ...outcome.report, via: 'origin' };
    }
    return outcome.report;
  }

  /**
   * A revalidation from the location's copy, if it is fresh: taken like a KV copy (it never confirms: isolates
   * wrote it), and the origin's ETag with it when the envelope is the held one, so this isolate's next own
   * request to the origin can be answered 304. undefined when there is no fresh copy that opens (the origins are
   * asked).
   */
  async #readCopy(copy: LocationCopy): Promise<PullReport | undefined> {
    let copied: ValidatedEnvelope | undefined;
    try {
      copied = await withDeadline(copy.read());
    } catch (error) {
      this.#o.log(`keyset: reading the ${copy.name} failed: ${describe(error)}`);
      return undefined;
    }
    if (copied === undefined) return undefined;
    const { envelope } = copied;
    const { report, opened } = await this.#take('revalidate', [
      { source: copy, result: { status: 'fulfilled', value: envelope } },
    ]);
    // A copy that does not open (anyone who can write the zone's cache can write one) says nothing: ask the
    // origins, whose answer then replaces it.
    if (report.failures.length > 0) return undefined;
    const keyset = opened.get(copy);
    if (keyset !== undefined && (await this.#o.store.holds(keyset))) {
      for (const origin of this.#o.origins) await origin.adopt?.(copied);
    }
    return { ...report, via: 'location' };
  }

  /** Stores what the first origin that answered usefully serves, for the other isolates of the location. */
  async #writeCopy(
    copy: LocationCopy,
    served: ValidatedEnvelope | undefined,
    checkedAt: number,
  ): Promise<void> {
    if (served === undefined) return;
    try {
      await copy.write(served, checkedAt);
    } catch (error) {
      this.#o.log(`keyset: writing the ${copy.name} failed: ${describe(error)}`);
    }
  }

  /** Opens the answers, takes the newest, confirms if an origin vouched for the held keyset, logs the failures. */
  async #take(
    reason: PullReason,
    answers: { source: Answerer; result: PromiseSettledResult<string | undefined> }[],
  ): Promise<{
    report: PullReport;
    /** What the first origin that answered with a 304 or an envelope that opens serves now. */
    served: ValidatedEnvelope | undefined;
    opened: Map<Answerer, Keyset>;
  }> {
    const { store, log } = this.#o;
    const failures: string[] = [];
    const opened = new Map<Answerer, Keyset>();
    let served: ValidatedEnvelope | undefined;
    // Only an origin that answered "nothing newer than what you hold" confirms the keyset: a 304, or an
    // envelope that opens to the held version or newer. KV and the location's copy are kept by the edges
    // themselves, and an answer that does not open is no answer, so none of them can keep an edge looking fresh.
    let confirmed = false;
    let best: { source: Answerer; envelope: string; keyset: Keyset } | undefined;
    for (const { source, result } of answers) {
      if (result.status === 'rejected') {
        failures.push(`${source.name}: ${describe(result.reason)}`);
        continue;
      }
      const origin = this.#origin(source);
      if (result.value === undefined) {
        if (origin !== undefined) {
          confirmed = true;
          served ??= origin.validated;
        }
        continue;
      }
      try {
        const keyset = await openKeyset(result.value, this.#o.keys, store.ring?.keyset);
        // The held version with other content: the source and this edge disagree on what that version is
        // (a restored backup). That is a failed pull, never a confirmation, and no later 304 may vouch for it.
        if (keyset.version === store.version && !(await store.holds(keyset))) {
          source.forget?.();
          failures.push(
            `${source.name}: keyset_conflict: version ${keyset.version} is held with other content`,
          );
          continue;
        }
        opened.set(source, keyset);
        if (origin !== undefined) {
          served ??= { envelope: result.value, etag: etagOf(origin, result.value) };
        }
        // A later 304 would vouch for this envelope: only let it if this one could confirm.
        if (keyset.version >= store.version) confirmed ||= origin !== undefined;
        else source.forget?.();
        if (best === undefined || keyset.version > best.keyset.version) {
          best = { source, envelope: result.value, keyset };
        }
      } catch (error) {
        source.forget?.();
        failures.push(`${source.name}: ${describe(error)}`);
      }
    }
    let taken = false;
    if (best !== undefined && best.keyset.version > store.version) {
      try {
        taken = (await store.accept(best.keyset)) === 'taken';
      } catch (error) {
        // keyset_conflict: a push of a newer version won the race, nothing to do.
        if (!(error instanceof EdgeError && error.code === 'keyset_conflict')) {
          failures.push(`${best.source.name}: ${describe(error)}`);
        }
      }
      // Only what an origin served goes to KV: the other copies came from KV or from this location's isolates.
      const origin = this.#origin(best.source);
      if (taken && origin !== undefined) await this.publish(best.envelope, best.keyset.version);
    }
    if (confirmed) store.confirm();
    this.#count(answers, failures, taken ? best?.source : undefined);
    for (const failure of failures) log(`keyset: pull (${reason}) failed: ${failure}`);
    return { report: { reason, version: store.version, taken, failures }, served, opened };
  }

  /** Tells onPull how each answer went: the ones named in `failures` failed, `taker` gave the keyset taken. */
  #count(answers: { source: Answerer }[], failures: string[], taker: Answerer | undefined): void {
    const onPull = this.#o.onPull;
    if (onPull === undefined) return;
    for (const { source } of answers) {
      const failed = failures.some((failure) => failure.startsWith(`${source.name}: `));
      onPull(source.name, failed ? 'failed' : source === taker ? 'taken' : 'unchanged');
    }
  }

  #origin(source: Answerer): KeysetSource | undefined {
    return this.#o.origins.find((origin) => origin === source);
  }
}

/** The ETag `origin` gave `envelope`, if its last answer carried exactly that envelope. */
function etagOf(origin: KeysetSource, envelope: string): string | undefined {
  const validated = origin.validated;
  return validated !== undefined && validated.envelope === envelope ? validated.etag : undefined;
}

function withDeadline<T>(task: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EdgeError('pull_failed', `no answer within ${SOURCE_DEADLINE_MS} ms`)),
      SOURCE_DEADLINE_MS,
    );
  });
  return Promise.race([task, deadline]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return 'code' in error ? `${String(error.code)}: ${error.message}` : error.message;
  return String(error);
}
