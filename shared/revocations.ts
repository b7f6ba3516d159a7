/**
 * Token revocation (SPEC section 8, RevokeTokens): the revocation list the control plane keeps and signs, and the
 * set an edge checks every valid token against.
 *
 * The list is numbered by `serial`, which rises with every RevokeTokens call (the call's time in Unix ms, or one
 * more than the last serial when that is later), each call being one batch (its jtis, its subject, the time of
 * the call and when it expires). A document carries the batches with a serial above `from`: `from` 0 is a snapshot (every live batch, what a pull of an edge that holds nothing
 * gets), anything else a delta (what a push after one call carries: one batch, a few hundred bytes). Expired
 * batches are simply left out: an edge drops them by itself at the same moment, so a delta never has to say so.
 *
 * Documents are JWS compact, signed with KEYSET_SIGNING_KEY like the keyset manifest but with their own `typ`,
 * so that neither can pass for the other. They are not encrypted: jtis and subjects are not key material (an edge
 * sees both in every token it verifies), but whoever can read GET /revocations learns which were revoked.
 */
import { fromUtf8 } from './base64url.ts';
import { KeywardError } from './errors.ts';
import type { EnvelopeCrypto } from './keyset-envelope.ts';
import type { KeysetSigner, KeysetVerifier } from './keyset-signing-key.ts';
import { signManifest, verifyManifest } from './signed-manifest.ts';

/** The `typ` of a signed revocation list. */
export const REVOCATIONS_TYPE = 'keyward-revocations+jws';

/** SPEC section 8: a jti is 1 to 256 characters. */
export const MAX_JTI_LENGTH = 256;
/** A subject is 1 to this many characters, none of them a control character. */
export const MAX_SUBJECT_LENGTH = 1024;
/** At most this many jtis in one RevokeTokens call (a larger incident is several calls). */
export const MAX_JTIS_PER_CALL = 10_000;
/**
 * A signed list (a snapshot of every live revocation) is at most this large: about 300,000 UUID jtis. The control
 * plane refuses a revocation that would make it larger; an edge refuses a larger document unread.
 */
export const MAX_REVOCATIONS_BYTES = 16 * 1024 * 1024;

/** One RevokeTokens call. Times are epoch milliseconds. */
export interface RevocationBatch {
  serial: number;
  /** When the call was made: a subject's tokens issued (`iat`) before this are refused. */
  at: number;
  /** When the revocation ends (`at` + REVOCATION_TTL). */
  expires: number;
  jti: string[];
  sub: string[];
}

export interface RevocationList {
  /** The serial of the newest batch the list accounts for. */
  serial: number;
  /** The batches are those above this serial: 0 for a snapshot, else a delta for an edge that holds `from`. */
  from: number;
  issued_at: string;
  batches: RevocationBatch[];
}

/** A RevokeTokens request's jtis and subject, checked: duplicates dropped, the subject '' when none. */
export interface RevocationRequest {
  jtis: string[];
  subject: string;
}

/** Checks a RevokeTokens request; throws `revocation_invalid` naming the first problem. */
export function checkRevocationRequest(jtis: readonly string[], subject: string): RevocationRequest {
  if (jtis.length === 0 && subject === '') {
    throw new KeywardError('revocation_invalid', 'nothing to revoke: give at least one jti or a subject');
  }
  if (jtis.length > MAX_JTIS_PER_CALL) {
    throw new KeywardError(
      'revocation_invalid',
      `at most ${MAX_JTIS_PER_CALL} jtis per call (got ${jtis.length}); split the list over several calls`,
    );
  }
  jtis.forEach((jti, index) => {
    const length = characters(jti);
    if (length < 1 || length > MAX_JTI_LENGTH) {
      throw new KeywardError(
        'revocation_invalid',
        `jtis[${index}] must be 1 to ${MAX_JTI_LENGTH} characters (got ${length})`,
      );
    }
  });
  if (subject !== '') {
    const length = characters(subject);
    if (length > MAX_SUBJECT_LENGTH) {
      throw new KeywardError(
        'revocation_invalid',
        `subject must be at most ${MAX_SUBJECT_LENGTH} characters (got ${length})`,
      );
    }
    if (CONTROL.test(subject)) {
      throw new KeywardError('revocation_invalid', 'subject must not contain control characters');
    }
  }
  return { jtis: [...new Set(jtis)], subject };
}

/** C0 controls, DEL and C1 controls: no real `sub` holds them, and they would corrupt logs and terminals. */
const CONTROL = /\p{Cc}/u;

/** Length in Unicode characters (code points), as SPEC counts a jti; UTF-16 length is an upper bound. */
function characters(text: string): number {
  if (text.length <= MAX_JTI_LENGTH) {
    let surrogates = 0;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0xdc00 && unit <= 0xdfff) surrogates++;
    }
    return text.length - surrogates;
  }
  return [...text].length;
}

/** The batches of `list` above `from` that have not expired at `now`: the delta (or snapshot, `from` 0) to send. */
export function revocationsSince(list: RevocationList, from: number, now: number): RevocationList {
  return {
    serial: list.serial,
    from,
    issued_at: new Date(now).toISOString(),
    batches: list.batches.filter((batch) => batch.serial > from && batch.expires > now),
  };
}

/** The list as JSON, the payload that is signed and stored. */
export function revocationListJson(list: RevocationList): string {
  return JSON.stringify({
    serial: list.serial,
    from: list.from,
    issued_at: list.issued_at,
    batches: list.batches.map(({ serial, at, expires, jti, sub }) => ({ serial, at, expires, jti, sub })),
  });
}

/** The signed list; `json` is `revocationListJson(list)` when the caller already made it (it is several MB at scale). */
export function signRevocationList(
  list: RevocationList,
  signer: KeysetSigner,
  json: string = revocationListJson(list),
): Promise<string> {
  return signManifest(json, signer, REVOCATIONS_TYPE);
}

/**
 * The list in a signed document: `revocations_too_large` past MAX_REVOCATIONS_BYTES, `envelope_malformed` or
 * `envelope_signature_invalid` (signed-manifest.ts) unless one of `verifiers` signed it as a revocation list,
 * `revocations_invalid` when its content is not a list. `crypto`: the runtime's synchronous Ed25519 check, as for
 * keysets (keyset-envelope.ts), where it has one; WebCrypto otherwise.
 */
export async function openRevocationList(
  jws: string,
  verifiers: readonly KeysetVerifier[],
  crypto?: Pick<EnvelopeCrypto, 'verifyEd25519'>,
): Promise<RevocationList> {
  if (jws.length > MAX_REVOCATIONS_BYTES) {
    throw new KeywardError(
      'revocations_too_large',
      `revocation lists are at most ${MAX_REVOCATIONS_BYTES} bytes`,
    );
  }
  const payload = await verifyManifest(jws, verifiers, crypto, REVOCATIONS_TYPE);
  const json = fromUtf8(payload);
  let value: unknown;
  try {
    if (json === undefined) throw new Error('not UTF-8');
    value = JSON.parse(json);
  } catch {
    throw new KeywardError('revocations_invalid', 'revocation list payload is not UTF-8 JSON');
  }
  return parseRevocationList(value);
}

/** Validates a revocation list; throws `revocations_invalid` naming the first problem and where it is. */
export function parseRevocationList(value: unknown): RevocationList {
  const list = record(value, '');
  const serial = count(list.serial, 'serial');
  const from = count(list.from, 'from');
  if (from > serial) invalid('from', 'expected at most serial');
  const issuedAt = list.issued_at;
  if (typeof issuedAt !== 'string' || Number.isNaN(Date.parse(issuedAt))) {
    invalid('issued_at', 'expected an RFC 3339 time');
  }
  if (!Array.isArray(list.batches)) invalid('batches', 'expected an array');
  let previous = from;
  const batches = (list.batches as unknown[]).map((entry, index) => {
    const path = `batches.${index}`;
    const batch = record(entry, path);
    const batchSerial = count(batch.serial, `${path}.serial`);
    // Ascending, above `from`, none above `serial`: a delta is applied in order, each batch once.
    if (batchSerial <= previous || batchSerial > serial) {
      invalid(`${path}.serial`, `expected a serial above ${previous} and at most ${serial}`);
    }
    previous = batchSerial;
    const at = count(batch.at, `${path}.at`);
    const expires = count(batch.expires, `${path}.expires`);
    if (expires <= at) invalid(`${path}.expires`, 'expected a time after at');
    return {
      serial: batchSerial,
      at,
      expires,
      jti: strings(batch.jti, `${path}.jti`, MAX_JTI_LENGTH),
      sub: strings(batch.sub, `${path}.sub`, MAX_SUBJECT_LENGTH),
    };
  });
  return { serial, from, issued_at: issuedAt, batches };
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(path, 'expected an object');
  return value as Record<string, unknown>;
}

function count(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) invalid(path, 'expected a non-negative integer');
  return value as number;
}

function strings(value: unknown, path: string, maxLength: number): string[] {
  if (!Array.isArray(value)) invalid(path, 'expected an array of strings');
  for (const [index, item] of (value as unknown[]).entries()) {
    // UTF-16 length: at most two units per character, so this bounds memory without counting code points.
    if (typeof item !== 'string' || item.length < 1 || item.length > 2 * maxLength) {
      invalid(`${path}.${index}`, `expected a string of 1 to ${maxLength} characters`);
    }
  }
  return value as string[];
}

function invalid(path: string, message: string): never {
  throw new KeywardError(
    'revocations_invalid',
    `revocation list invalid${path ? ` at ${path}` : ''}: ${message}`,
  );
}

/** What an edge answers a delta that starts above what it holds, with the serial it holds. */
export type RevocationMismatch = 'revocations_behind';

export class RevocationMismatchError extends Error {
  readonly code: RevocationMismatch;
  /** The serial the edge holds. */
  readonly serial: number;
  constructor(code: RevocationMismatch, serial: number, message: string) {
    super(message);
    this.code = code;
    this.serial = serial;
    this.name = 'RevocationMismatchError';
  }
}

/** A subject's revocation: its tokens issued before `at` are refused until `expires`. */
interface SubjectCutoff {
  at: number;
  expires: number;
}

/**
 * The revocations an edge holds, and the check every valid token goes through. Lookups are one Map probe per
 * claim, none at all while the set is empty, so the verify path pays for revocation only when there is any.
 */
export class RevocationSet {
  #serial = 0;
  /** jti -> when its revocation expires (the latest, if it was revoked twice). */
  #jtis = new Map<string, number>();
  /** sub -> its live revocations (more than one only when a subject was revoked again). */
  #subjects = new Map<string, SubjectCutoff[]>();
  /** The earliest `expires` held: no sweep is needed before then. */
  #nextExpiry = Number.POSITIVE_INFINITY;

  /** The serial of the newest batch held; 0 when none was ever taken. */
  get serial(): number {
    return this.#serial;
  }

  /** Live revocations held: jtis plus subjects. */
  get size(): number {
    return this.#jtis.size + this.#subjects.size;
  }

  /**
   * Takes a document. A delta adds the batches above the held serial (unless it starts above it:
   * `revocations_behind`, the sender then sends from the serial the error names); one at or below the held
   * serial is already held. A snapshot adds every batch it carries and its serial becomes the held one, even a
   * lower one: nothing held is ever removed (a revocation leaves only by expiring), so a snapshot older than what
   * is held (a list restored from a backup, or a replay) takes nothing away, and the deltas the control plane
   * numbers from its own serial apply after it.
   */
  apply(list: RevocationList, now: number): 'taken' | 'held' {
    const held = this.#serial;
    if (list.from === 0) {
      if (list.serial === held) return 'held';
      this.#add(list.batches, 0, now);
      this.#serial = list.serial;
      return 'taken';
    }
    if (list.from > held) {
      throw new RevocationMismatchError(
        'revocations_behind',
        held,
        `revocation serial ${held} is held; this delta starts at ${list.from}`,
      );
    }
    if (list.serial <= held) return 'held';
    this.#add(list.batches, held, now);
    this.#serial = list.serial;
    return 'taken';
  }

  /**
   * True when `claims` are revoked at `now`: their `jti` is, or their `sub` is and they were issued (`iat`, in
   * seconds, possibly fractional) before that revocation was made, or carry no `iat`.
   */
  isRevoked(claims: Record<string, unknown>, now: number): boolean {
    if (this.#jtis.size === 0 && this.#subjects.size === 0) return false;
    if (now >= this.#nextExpiry) this.#sweep(now);
    const { jti, sub } = claims;
    if (typeof jti === 'string') {
      const expires = this.#jtis.get(jti);
      if (expires !== undefined && expires > now) return true;
    }
    if (typeof sub === 'string') {
      const cutoffs = this.#subjects.get(sub);
      if (cutoffs !== undefined) {
        const { iat } = claims;
        const issuedMs = typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : undefined;
        for (const { at, expires } of cutoffs) {
          if (expires > now && (issuedMs === undefined || issuedMs < at)) return true;
        }
      }
    }
    return false;
  }

  #add(batches: readonly RevocationBatch[], above: number, now: number): void {
    for (const batch of batches) {
      if (batch.serial <= above || batch.expires <= now) continue;
      for (const jti of batch.jti) {
        if ((this.#jtis.get(jti) ?? 0) < batch.expires) this.#jtis.set(jti, batch.expires);
      }
      for (const sub of batch.sub) {
        const cutoffs = this.#subjects.get(sub);
        const cutoff = { at: batch.at, expires: batch.expires };
        if (cutoffs === undefined) this.#subjects.set(sub, [cutoff]);
        // A snapshot carries batches already held: each revocation once.
        else if (!cutoffs.some((held) => held.at === cutoff.at && held.expires === cutoff.expires)) {
          cutoffs.push(cutoff);
        }
      }
      if (batch.expires < this.#nextExpiry) this.#nextExpiry = batch.expires;
    }
  }

  /** Drops what has expired, so that the set stays bounded by REVOCATION_TTL. */
  #sweep(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [jti, expires] of this.#jtis) {
      if (expires <= now) this.#jtis.delete(jti);
      else if (expires < next) next = expires;
    }
    for (const [sub, cutoffs] of this.#subjects) {
      const live = cutoffs.filter((cutoff) => cutoff.expires > now);
      if (live.length === 0) this.#subjects.delete(sub);
      else {
        this.#subjects.set(sub, live);
        for (const { expires } of live) if (expires < next) next = expires;
      }
    }
    this.#nextExpiry = next;
  }
}
