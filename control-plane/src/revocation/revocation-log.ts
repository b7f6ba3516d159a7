/**
 * The control plane's revocation list (SPEC section 8, RevokeTokens): kept in storage as one signed snapshot of
 * every live revocation, with a serial that is the compare-and-swap guard. A call appends one batch, drops the
 * expired ones and writes the new snapshot in one step; edges get deltas (the batches above the serial they hold)
 * pushed and pulled, signed with KEYSET_SIGNING_KEY.
 */
import { KeywardError } from '../../../shared/errors.ts';
import {
  importSigner,
  importVerifier,
  type KeysetSigner,
  type KeysetVerifier,
} from '../../../shared/keyset-signing-key.ts';
import {
  MAX_REVOCATIONS_BYTES,
  openRevocationList,
  type RevocationList,
  type RevocationRequest,
  revocationListJson,
  revocationsSince,
  signRevocationList,
} from '../../../shared/revocations.ts';
import { ControlPlaneError } from '../errors.ts';
import type { KeysetStorage } from '../storage/keyset-storage.ts';

export interface RevocationLogOptions {
  storage: KeysetStorage;
  /** KEYSET_SIGNING_KEY's seed; without it nothing can be revoked (edges take only signed lists). */
  signingKey?: Uint8Array;
  /** REVOCATION_TTL. */
  ttlMs: number;
  now?: () => Date;
  /** How long a read of the list is trusted before storage is asked for its serial again (default 1 s). */
  freshForMs?: number;
  /** The largest signed list written (default MAX_REVOCATIONS_BYTES, what edges take). */
  maxBytes?: number;
}

/** The list as this process last read or wrote it: always a snapshot (`from` 0). */
export interface RevocationState {
  list: RevocationList;
  /** Live jtis plus subjects at the time it was read. */
  live: number;
}

/** Attempts of a write that lost the compare-and-swap to another replica before the call gives up. */
const WRITE_ATTEMPTS = 10;

const EMPTY: RevocationList = { serial: 0, from: 0, issued_at: new Date(0).toISOString(), batches: [] };

export class RevocationLog {
  readonly #options: RevocationLogOptions;
  readonly #now: () => Date;
  #state: RevocationState = { list: EMPTY, live: 0 };
  #readAt = Number.NEGATIVE_INFINITY;
  #signer: Promise<KeysetSigner> | undefined;
  #verifierKey: Promise<KeysetVerifier> | undefined;
  /** Signed documents by `from`, for the serial they were made at: every edge at one serial gets the same one. */
  #documents = new Map<number, Promise<string>>();
  #documentsSerial = -1;
  /** This process's writes, one at a time (other replicas race by compare-and-swap). */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(options: RevocationLogOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** True when revocations can be signed (KEYSET_SIGNING_KEY is set). */
  get enabled(): boolean {
    return this.#options.signingKey !== undefined;
  }

  /** The list, from storage when the last read is older than `maxAgeMs`. Throws StorageUnavailableError. */
  async current(maxAgeMs = this.#options.freshForMs ?? 1_000): Promise<RevocationState> {
    // Without a signing key nothing was revoked through this process, and a stored list could not be checked.
    if (!this.enabled || Date.now() - this.#readAt < maxAgeMs) return this.#state;
    const readAt = Date.now();
    const stored = await this.#options.storage.loadRevocations(this.#state.list.serial);
    // Any other serial is taken, a lower one too: storage restored from a backup is what the next write swaps.
    if (stored.serial !== this.#state.list.serial) {
      const list =
        stored.document === null
          ? { ...EMPTY, serial: stored.serial }
          : await openRevocationList(stored.document, [await this.#verifier()]);
      this.#state = stateOf(list, this.#now().getTime());
    }
    this.#readAt = readAt;
    return this.#state;
  }

  /**
   * Adds one batch (the request's jtis and subject, from now until now + REVOCATION_TTL) and writes the list;
   * returns it. Refused, nothing written, without KEYSET_SIGNING_KEY or when the list would outgrow
   * MAX_REVOCATIONS_BYTES.
   */
  revoke(request: RevocationRequest, actor: string): Promise<RevocationState> {
    return this.#serialize(async () => {
      if (!this.enabled) {
        throw new ControlPlaneError(
          'failed_precondition',
          'KEYSET_SIGNING_KEY is not set: edges take only signed revocation lists, so nothing can be revoked',
        );
      }
      for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        const { list } = await this.current(0);
        const at = this.#now().getTime();
        // The time of the call in ms, or one more than the last serial if that is later: a serial is never used
        // twice, even after a restore from a backup took the list back to an older serial (an edge may still
        // hold a list numbered above it, whose serial a count would reach again with other content).
        const serial = Math.max(list.serial + 1, at);
        const batch = {
          serial,
          at,
          expires: at + this.#options.ttlMs,
          jti: request.jtis,
          sub: request.subject === '' ? [] : [request.subject],
        };
        const live = revocationsSince(list, 0, at);
        const next = { ...live, serial, batches: [...live.batches, batch] };
        const action = {
          action: 'revoke_tokens' as const,
          actor,
          kid: '',
          revoked: { jtis: request.jtis.length, subject: request.subject },
        };
        if (await this.#write(list.serial, next, action)) return this.#state;
      }
      throw new ControlPlaneError(
        'conflict',
        'The revocation list kept changing under this call (other replicas writing); retry',
      );
    });
  }

  /**
   * The signed document for an edge that holds serial `from`: the batches above it (a snapshot for 0, or for a
   * serial above this list's: a list from before a restore, which the snapshot adds to). Undefined when `from`
   * is this list's serial: nothing newer.
   */
  async since(from: number, state?: RevocationState): Promise<string | undefined> {
    const { list } = state ?? (await this.current());
    if (from === list.serial) return undefined;
    const start = from > list.serial ? 0 : from;
    if (this.#documentsSerial !== list.serial) {
      this.#documents = new Map();
      this.#documentsSerial = list.serial;
    }
    let document = this.#documents.get(start);
    if (document === undefined) {
      document = this.#sign(revocationsSince(list, start, this.#now().getTime()));
      document.catch(() => this.#documents.delete(start));
      this.#documents.set(start, document);
    }
    return document;
  }

  async #write(
    expected: number,
    next: RevocationList,
    action?: Parameters<KeysetStorage['swapRevocations']>[2],
  ): Promise<boolean> {
    const json = revocationListJson(next);
    const maxBytes = this.#options.maxBytes ?? MAX_REVOCATIONS_BYTES;
    // The signed document is its base64url (4/3 of the UTF-8 bytes) plus a header and signature under 1 KB.
    if (Math.ceil((Buffer.byteLength(json) * 4) / 3) + 1024 > maxBytes) {
      throw new KeywardError(
        'revocations_too_large',
        `The revocation list would exceed ${maxBytes} bytes; nothing was revoked. Revocations expire after REVOCATION_TTL: revoke by subject to cover many tokens at once, or shorten token lifetimes`,
      );
    }
    const document = await this.#sign(next, json);
    if (!(await this.#options.storage.swapRevocations(expected, { serial: next.serial, document }, action))) {
      this.#readAt = Number.NEGATIVE_INFINITY;
      // Another replica wrote: a random pause so that two losers do not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
      return false;
    }
    this.#state = stateOf(next, this.#now().getTime());
    this.#readAt = Date.now();
    return true;
  }

  async #sign(list: RevocationList, json?: string): Promise<string> {
    return signRevocationList(list, await this.#signerOrThrow(), json);
  }

  #signerOrThrow(): Promise<KeysetSigner> {
    const seed = this.#options.signingKey;
    if (seed === undefined) {
      return Promise.reject(new ControlPlaneError('failed_precondition', 'KEYSET_SIGNING_KEY is not set'));
    }
    this.#signer ??= importSigner(seed);
    return this.#signer;
  }

  #verifier(): Promise<KeysetVerifier> {
    this.#verifierKey ??= this.#signerOrThrow().then((signer) => importVerifier(signer.publicKey));
    return this.#verifierKey;
  }

  #serialize<T>(write: () => Promise<T>): Promise<T> {
    const result = this.#writes.then(write);
    this.#writes = result.catch(() => {});
    return result;
  }
}

function stateOf(list: RevocationList, now: number): RevocationState {
  let live = 0;
  for (const batch of list.batches) if (batch.expires > now) live += batch.jti.length + batch.sub.length;
  return { list, live };
}
