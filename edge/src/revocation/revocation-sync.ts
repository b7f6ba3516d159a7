/**
 * Gets revocation lists into the edge's RevocationSet: pushes (PUT /revocations) and pulls, which KeysetSync runs
 * alongside each keyset pull (cold start, KEYSET_TTL, KEYSET_REVALIDATE, the cron trigger; not for an unknown
 * kid, which says nothing about revocations). Every isolate pulls for itself: there is no KV or location copy of
 * the list, so a pull asks the origins, and nearly always hears "nothing newer" (a 304, or a serial not above the
 * held one).
 */
import type { EnvelopeCrypto } from '../../../shared/keyset-envelope.ts';
import type { KeysetVerifier } from '../../../shared/keyset-signing-key.ts';
import {
  openRevocationList,
  RevocationMismatchError,
  type RevocationSet,
} from '../../../shared/revocations.ts';
import type { PullOutcome, PullReason } from '../keyset/keyset-sync.ts';
import type { RevocationSource } from './revocation-sources.ts';

export interface RevocationSyncOptions {
  set: RevocationSet;
  /** KEYSET_VERIFY_KEY(s): a list is taken only signed by one of them, as a revocation list. */
  verifiers: () => Promise<readonly KeysetVerifier[]>;
  /** The runtime's synchronous Ed25519 check (node:crypto on Node and Bun), the keyset's; WebCrypto without. */
  crypto?: Pick<EnvelopeCrypto, 'verifyEd25519'>;
  /** KEYSET_URL's and Upstash's, in that order. */
  sources: readonly RevocationSource[];
  now: () => number;
  log: (message: string) => void;
  /** Told of each source's answer to each pull (the edge's counters). */
  onPull?: (source: string, outcome: PullOutcome) => void;
}

export interface RevocationPushResult {
  outcome: 'taken' | 'held';
  /** The serial held after the push. */
  serial: number;
}

export class RevocationSync {
  readonly #o: RevocationSyncOptions;

  constructor(options: RevocationSyncOptions) {
    this.#o = options;
  }

  /** The serial of the newest batch held; 0 before any. */
  get serial(): number {
    return this.#o.set.serial;
  }

  /**
   * Opens and takes a pushed list. Throws the KeywardError of openRevocationList (`revocations_too_large`,
   * `envelope_malformed`, `envelope_signature_invalid`, `revocations_invalid`) or a RevocationMismatchError; the
   * held set is then unchanged.
   */
  async push(jws: string): Promise<RevocationPushResult> {
    const list = await openRevocationList(jws.trim(), await this.#o.verifiers(), this.#o.crypto);
    const outcome = this.#o.set.apply(list, this.#o.now());
    return { outcome, serial: this.#o.set.serial };
  }

  /** Asks every source for what is newer than the held serial and takes it. Never throws: failures are logged. */
  async pull(reason: PullReason): Promise<void> {
    if (reason === 'unknown_kid') return;
    const { sources, log, onPull } = this.#o;
    await Promise.all(
      sources.map(async (source) => {
        let outcome: PullOutcome;
        try {
          outcome = await this.#pullFrom(source);
        } catch (error) {
          outcome = 'failed';
          log(`revocations: pull (${reason}) failed: ${source.name}: ${describe(error)}`);
        }
        onPull?.(source.name, outcome);
      }),
    );
  }

  async #pullFrom(source: RevocationSource): Promise<PullOutcome> {
    const documents = await source.pull(this.#o.set.serial);
    try {
      return await this.#take(documents);
    } catch (error) {
      // Deltas that start above the held serial: the source folded the ones between into its snapshot.
      if (!(error instanceof RevocationMismatchError)) throw error;
      return await this.#take(await source.pull(0));
    }
  }

  /** Takes `documents` in order: 'taken' when any added to the held set. */
  async #take(documents: readonly string[]): Promise<PullOutcome> {
    let taken = false;
    for (const document of documents) if ((await this.push(document)).outcome === 'taken') taken = true;
    return taken ? 'taken' : 'unchanged';
  }
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return 'code' in error ? `${String(error.code)}: ${error.message}` : error.message;
  return String(error);
}
