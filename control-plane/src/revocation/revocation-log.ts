/**
 * The control plane's revocation list (SPEC section 8, RevokeTokens). Storage holds a signed snapshot and, above
 * it, one signed delta per call, with the newest serial as the compare-and-swap guard: a call signs and appends
 * its own batch (a few hundred bytes however long the list is), and once the deltas add up to a quarter of the
 * snapshot, or to COMPACT_AFTER_DELTAS calls, the process that wrote the last one folds them into a new snapshot
 * after answering. Edges get deltas (the batches above the serial they hold) pushed and pulled, signed with
 * KEYSET_SIGNING_KEY; a pull through Upstash reads the stored deltas themselves.
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
  type RevocationBatch,
  type RevocationList,
  type RevocationRequest,
  revocationListJson,
  revocationsSince,
  signRevocationList,
} from '../../../shared/revocations.ts';
import { ControlPlaneError } from '../errors.ts';
import type { KeysetStorage, StoredRevocations } from '../storage/keyset-storage.ts';

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
  /**
   * Told when folding the deltas into a snapshot failed (the next call tries again; nothing is lost), and when
   * storage holds a list with revocations missing from it (evicted, or restored in part).
   */
  onWarning?: (message: string, error?: unknown) => void;
  /** Told of each snapshot written: its serial, the deltas it took in, its bytes and how long the fold took. */
  onFold?: (fold: RevocationFold) => void;
}

export interface RevocationFold {
  serial: number;
  deltas: number;
  bytes: number;
  durationMs: number;
}

/** The list as this process last read or wrote it: always a snapshot (`from` 0). */
export interface RevocationState {
  list: RevocationList;
  /** Live jtis plus subjects at the time it was read. */
  live: number;
}

/** Attempts of a write that lost the compare-and-swap to another replica before the call gives up. */
const WRITE_ATTEMPTS = 10;
/** Stored deltas that make the writer fold them into a new snapshot, however small they are. */
export const COMPACT_AFTER_DELTAS = 256;
/** Stored delta bytes that make the writer fold them, below which a quarter of the snapshot is not waited for. */
const COMPACT_AFTER_BYTES = 64 * 1024;

const EMPTY: RevocationList = { serial: 0, from: 0, issued_at: new Date(0).toISOString(), batches: [] };

export class RevocationLog {
  readonly #options: RevocationLogOptions;
  readonly #now: () => Date;
  #state: RevocationState = { list: EMPTY, live: 0 };
  /**
   * The serial storage held at the last read or write: what the next write swaps against. It is the list's serial
   * unless storage lost or went back on its serial key alone (then lower).
   */
  #storedSerial = 0;
  /**
   * The highest serial this process has read or written: after storage went back to a backup, edges may still
   * hold a list numbered up to it, so the next call is numbered above it whatever the clock says.
   */
  #highestSerial = 0;
  #readAt = Number.NEGATIVE_INFINITY;
  #signer: Promise<KeysetSigner> | undefined;
  #verifierKey: Promise<KeysetVerifier> | undefined;
  /** Signed documents by `from`, for the serial they were made at: every edge at one serial gets the same one. */
  #documents = new Map<number, Promise<string>>();
  #documentsSerial = -1;
  /** This process's writes, one at a time (other replicas race by compare-and-swap). */
  #writes: Promise<unknown> = Promise.resolve();
  /** The deltas stored above the snapshot, as far as this process has seen, and the snapshot's size. */
  #stored = { deltas: 0, deltaBytes: 0, snapshotBytes: 0 };
  #compacting: Promise<void> | undefined;
  /** Storage was read with a break in its chain of deltas: fold at once, so that readers read one list again. */
  #foldDue = false;

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
    const held = this.#state.list;
    const since = this.#storedSerial;
    const stored = await this.#options.storage.loadRevocations(since);
    // Any other serial is taken, a lower one too: storage restored from a backup is what the next write swaps.
    // From 0 storage answers the whole list, which may hold batches even under a serial key that was lost.
    if (stored.serial !== since || (since === 0 && (stored.snapshot !== null || stored.deltas.length > 0))) {
      // Read from serial 0 or from above the stored serial, storage answered the whole list.
      const whole = since === 0 || stored.serial < since;
      const list = whole
        ? await this.#load(stored)
        : ((held.serial === since ? await this.#follow(held, stored) : undefined) ??
          (await this.#load(await this.#options.storage.loadRevocations(0))));
      this.#state = stateOf(list, this.#now().getTime());
      this.#highestSerial = Math.max(this.#highestSerial, list.serial);
      if (this.#foldDue) this.#compactWhenDue();
    }
    this.#readAt = readAt;
    return this.#state;
  }

  /**
   * Adds one batch (the request's jtis and subject, from now until now + REVOCATION_TTL) and appends it to the
   * list in storage; returns the list. Refused, nothing written, without KEYSET_SIGNING_KEY or when the list
   * would outgrow MAX_REVOCATIONS_BYTES.
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
        const serial = this.#nextSerial(at);
        const batch = {
          serial,
          at,
          expires: at + this.#options.ttlMs,
          jti: request.jtis,
          sub: request.subject === '' ? [] : [request.subject],
        };
        const live = revocationsSince(list, 0, at);
        const next = { ...live, serial, batches: [...live.batches, batch] };
        this.#checkSize(next);
        const delta = { serial, from: list.serial, issued_at: new Date(at).toISOString(), batches: [batch] };
        const document = await this.#sign(delta);
        const action = {
          action: 'revoke_tokens' as const,
          actor,
          kid: '',
          revoked: { jtis: request.jtis.length, subject: request.subject },
        };
        const expected = this.#storedSerial;
        if (!(await this.#options.storage.appendRevocations(expected, { serial, document }, action))) {
          this.#readAt = Number.NEGATIVE_INFINITY;
          // Another replica wrote: a random pause so that two losers do not collide again in step.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
          continue;
        }
        this.#state = stateOf(next, at);
        this.#storedSerial = serial;
        this.#highestSerial = serial;
        this.#readAt = Date.now();
        // The delta just signed is what every edge holding the previous serial is sent.
        this.#documents = new Map([[list.serial, Promise.resolve(document)]]);
        this.#documentsSerial = serial;
        this.#stored.deltas++;
        this.#stored.deltaBytes += document.length;
        this.#compactWhenDue();
        return this.#state;
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

  /** Settles once a fold of the deltas into a snapshot that is under way has ended (for tests and shutdown). */
  async settled(): Promise<void> {
    await this.#compacting;
  }

  /**
   * `held` brought up to `stored` (read from `held`'s serial) by its deltas; undefined when they do not follow on
   * from it (a snapshot took them in, or storage went back to a backup): storage must be read whole.
   */
  async #follow(held: RevocationList, stored: StoredRevocations): Promise<RevocationList | undefined> {
    if (stored.deltas.length === 0) return undefined;
    const deltas = await this.#open(stored.deltas);
    // Only the delta that starts at the held serial continues it; any other start means storage moved under it.
    if ((deltas[0] as RevocationList).from !== held.serial) return undefined;
    this.#stored.deltas += stored.deltas.length;
    for (const document of stored.deltas) this.#stored.deltaBytes += document.length;
    this.#warnOfGap(chainGap(held, deltas, stored.serial));
    this.#storedSerial = stored.serial;
    return fold(held, deltas, stored.serial);
  }

  /** The list from a whole read of storage: its snapshot and every delta. */
  async #load(stored: StoredRevocations): Promise<RevocationList> {
    let deltaBytes = 0;
    for (const document of stored.deltas) deltaBytes += document.length;
    this.#stored = {
      deltas: stored.deltas.length,
      deltaBytes,
      snapshotBytes: stored.snapshot?.length ?? 0,
    };
    const { list, gap } = await this.#read(stored);
    this.#warnOfGap(gap);
    this.#storedSerial = stored.serial;
    return list;
  }

  /** The list a whole read of storage holds, and the break in its chain of deltas, if any. */
  async #read(stored: StoredRevocations): Promise<{ list: RevocationList; gap: ChainGap | undefined }> {
    const snapshot =
      stored.snapshot === null ? EMPTY : ((await this.#open([stored.snapshot]))[0] as RevocationList);
    const deltas = await this.#open(stored.deltas);
    return { list: fold(snapshot, deltas, stored.serial), gap: chainGap(snapshot, deltas, stored.serial) };
  }

  /** Warns of a break in storage's chain of deltas, and has the list folded into one snapshot at once. */
  #warnOfGap(gap: ChainGap | undefined): void {
    if (gap === undefined) return;
    this.#foldDue = true;
    this.#options.onWarning?.(
      gap.kind === 'missing'
        ? `the revocation list in storage misses the RevokeTokens calls above serial ${gap.from} up to ${gap.to} (a serial is the call's time in Unix ms): storage evicted or was restored in part; revoke those tokens again`
        : `the revocation list in storage holds serial ${gap.from}, above its serial key (${gap.to}): storage evicted or was restored in part; nothing revoked is lost; the key is raised above the list before the fold`,
    );
  }

  async #open(documents: readonly string[]): Promise<RevocationList[]> {
    const verifiers = [await this.#verifier()];
    const lists: RevocationList[] = [];
    for (const document of documents) lists.push(await openRevocationList(document, verifiers));
    return lists;
  }

  /** Refuses (`revocations_too_large`, nothing written) a list whose signed snapshot would pass the limit. */
  #checkSize(list: RevocationList): void {
    const maxBytes = this.#options.maxBytes ?? MAX_REVOCATIONS_BYTES;
    // The snapshot's JSON is its batches' plus an envelope under 128 bytes; signed, it is its base64url (4/3 of
    // the UTF-8 bytes) plus a header and signature under 1 KB.
    let bytes = 128;
    for (const batch of list.batches) bytes += batchBytes(batch);
    if (Math.ceil((bytes * 4) / 3) + 1024 > maxBytes) {
      throw new KeywardError(
        'revocations_too_large',
        `The revocation list would exceed ${maxBytes} bytes; nothing was revoked. Revocations expire after REVOCATION_TTL: revoke by subject to cover many tokens at once, or shorten token lifetimes`,
      );
    }
  }

  /**
   * Folds the stored deltas into a new snapshot after this call has answered, when they reach
   * COMPACT_AFTER_DELTAS or a quarter of the snapshot's size (and COMPACT_AFTER_BYTES): a snapshot costs what
   * the whole list weighs, so it is written once for as many bytes of deltas, never per call.
   */
  #compactWhenDue(): void {
    const { deltas, deltaBytes, snapshotBytes } = this.#stored;
    if (this.#compacting !== undefined) return;
    const due =
      this.#foldDue ||
      deltas >= COMPACT_AFTER_DELTAS ||
      deltaBytes >= Math.max(COMPACT_AFTER_BYTES, snapshotBytes / 4);
    if (!due) return;
    const healing = this.#foldDue;
    this.#foldDue = false;
    this.#compacting = this.#serialize(async () => {
      const started = performance.now();
      let { list } = this.#state;
      if (healing) {
        // Storage may have changed since the read that found the break (a restore still under way, or another
        // replica that folded first): fold what it holds now, or nothing once no break is left.
        const stored = await this.#options.storage.loadRevocations(0);
        const now = await this.#read(stored);
        if (now.gap === undefined) return;
        list = now.list;
        this.#storedSerial = stored.serial;
        this.#highestSerial = Math.max(this.#highestSerial, list.serial);
        if (now.gap.kind === 'behind') list = await this.#raiseSerialKey(list);
        this.#state = stateOf(list, this.#now().getTime());
      }
      const snapshot = revocationsSince(list, 0, this.#now().getTime());
      const json = revocationListJson(snapshot);
      const document = await this.#sign(snapshot, json);
      const written = await this.#options.storage.compactRevocations({ serial: list.serial, document });
      // A break that left the stored serial above every delta: no delta at it to fold at, so the next call,
      // whose delta is one, folds.
      if (healing && !written) this.#foldDue = true;
      if (written) {
        this.#options.onFold?.({
          serial: list.serial,
          deltas: this.#stored.deltas,
          bytes: document.length,
          durationMs: performance.now() - started,
        });
      }
      // Written, or a snapshot as new was already there: either way no delta at or below it is stored.
      this.#stored = { deltas: 0, deltaBytes: 0, snapshotBytes: document.length };
      if (this.#documentsSerial === list.serial && !this.#documents.has(0)) {
        this.#documents.set(0, Promise.resolve(document));
      }
    })
      .catch((error: unknown) => {
        if (healing) this.#foldDue = true;
        this.#options.onWarning?.(
          'revocation deltas not folded into a snapshot; the next RevokeTokens call tries again',
          error,
        );
      })
      .finally(() => {
        this.#compacting = undefined;
      });
  }

  /**
   * Brings a serial key that is below the list back above it, through the compare-and-swap, with an empty delta
   * numbered above both: the fold that follows then has a delta at its serial, and readers stop seeing a break.
   * `list` as it then is; unchanged when another write came first (that write raised the key already).
   */
  async #raiseSerialKey(list: RevocationList): Promise<RevocationList> {
    const at = this.#now().getTime();
    const serial = this.#nextSerial(at);
    const delta = { serial, from: list.serial, issued_at: new Date(at).toISOString(), batches: [] };
    const document = await this.#sign(delta);
    if (!(await this.#options.storage.appendRevocations(this.#storedSerial, { serial, document })))
      return list;
    this.#storedSerial = serial;
    this.#highestSerial = serial;
    return { ...list, serial };
  }

  /**
   * The serial of a write at `at`: the time in ms, or one more than any serial this process has seen (the held
   * list's and the stored key's are never above it) if that is later. A serial is never used twice, even after
   * a restore from a backup took the list back to an older serial (an edge may still hold a list numbered above
   * it, whose serial a count would reach again with other content).
   */
  #nextSerial(at: number): number {
    return Math.max(this.#highestSerial + 1, at);
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

/**
 * `list` with the batches of `deltas` above its serial, in order; its serial then the newest of them, or
 * `serial` (the stored guard) when that is higher.
 */
function fold(list: RevocationList, deltas: readonly RevocationList[], serial: number): RevocationList {
  const batches = [...list.batches];
  let newest = list.serial;
  let issuedAt = list.issued_at;
  for (const delta of deltas) {
    for (const batch of delta.batches) {
      if (batch.serial > newest) batches.push(batch);
    }
    if (delta.serial > newest) {
      newest = delta.serial;
      issuedAt = delta.issued_at;
    }
  }
  return { serial: Math.max(newest, serial), from: 0, issued_at: issuedAt, batches };
}

/**
 * A break in storage's chain: deltas `missing` between two serials, or a serial key `behind` the newest delta
 * (`from` the newest delta's serial, `to` the key's).
 */
interface ChainGap {
  kind: 'missing' | 'behind';
  from: number;
  to: number;
}

/**
 * Where `deltas` do not follow on from `snapshot` and one another up to the stored `serial`, or that serial is
 * below the newest delta; undefined when the chain is whole. A delta the snapshot took in already is passed over.
 */
function chainGap(
  snapshot: RevocationList,
  deltas: readonly RevocationList[],
  serial: number,
): ChainGap | undefined {
  let held = snapshot.serial;
  for (const delta of deltas) {
    if (delta.serial <= held) continue;
    if (delta.from > held) return { kind: 'missing', from: held, to: delta.from };
    held = delta.serial;
  }
  if (serial > held) return { kind: 'missing', from: held, to: serial };
  return serial < held ? { kind: 'behind', from: held, to: serial } : undefined;
}

/** A batch's bytes in the list's JSON (and its comma), counted once per batch. */
const BATCH_BYTES = new WeakMap<RevocationBatch, number>();
function batchBytes(batch: RevocationBatch): number {
  let bytes = BATCH_BYTES.get(batch);
  if (bytes === undefined) {
    const { serial, at, expires, jti, sub } = batch;
    bytes = Buffer.byteLength(JSON.stringify({ serial, at, expires, jti, sub })) + 1;
    BATCH_BYTES.set(batch, bytes);
  }
  return bytes;
}

function stateOf(list: RevocationList, now: number): RevocationState {
  let live = 0;
  for (const batch of list.batches) if (batch.expires > now) live += batch.jti.length + batch.sub.length;
  return { list, live };
}
