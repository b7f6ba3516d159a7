/**
 * Where an edge pulls revocation lists from: the control plane's GET /revocations beside KEYSET_URL, and the
 * Upstash copy. Same rules as the keyset sources: PULL_TIMEOUT_MS, no redirect followed, bodies read up to the
 * limit only.
 */
import { MAX_REVOCATIONS_BYTES } from '../../../shared/revocations.ts';
import { EdgeError } from '../errors.ts';
import { readBodyText } from '../http/read-body.ts';
import { PULL_TIMEOUT_MS } from '../keyset/sources/keyset-source.ts';
import { refuseRedirect } from '../keyset/sources/refuse-redirect.ts';
import { upstashClient } from '../keyset/sources/upstash-keyset-source.ts';

/** The serial of the revocation list the control plane keeps in Valkey (its newest batch's), as a decimal string. */
export const REVOCATION_SERIAL_REDIS_KEY = 'jwt_secrets:revocation_serial';
/** The signed snapshot the control plane rewrites now and then. */
export const REVOCATIONS_REDIS_KEY = 'jwt_secrets:revocations';
/** Sorted set: each batch's serial -> the signed delta of the call that made it, for the batches above the snapshot. */
export const REVOCATION_DELTAS_REDIS_KEY = 'jwt_secrets:revocation_deltas';

export interface RevocationSource {
  /** For logs and counters. */
  readonly name: string;
  /**
   * Signed revocation lists newer than `held`, to take in order (deltas, which may start above `held` when the
   * source has only a snapshot of the ones between: then ask again from 0; or a snapshot first); empty when the
   * source has nothing newer. Throws `pull_failed` when it gave no usable answer.
   */
  pull(held: number): Promise<string[]>;
}

/** GET `revocations?since=<held>` beside KEYSET_URL: 200 with a document, 304 when nothing is newer. */
export class UrlRevocationSource implements RevocationSource {
  readonly name = 'KEYSET_URL';
  readonly #url: URL;
  readonly #fetch: typeof fetch;

  /** `keysetUrl`: KEYSET_URL, e.g. https://cp.example/keyset; the list is asked of https://cp.example/revocations. */
  constructor(keysetUrl: string, fetchImpl: typeof fetch) {
    this.#url = new URL('revocations', keysetUrl);
    this.#fetch = fetchImpl;
  }

  async pull(held: number): Promise<string[]> {
    const url = new URL(this.#url);
    url.searchParams.set('since', String(held));
    const response = await this.#fetch(url.href, {
      headers: { accept: 'application/jose' },
      signal: AbortSignal.timeout(PULL_TIMEOUT_MS),
      redirect: 'manual',
    });
    await refuseRedirect(response, this.name);
    if (response.status === 304) {
      await response.body?.cancel();
      return [];
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new EdgeError('pull_failed', `${this.name} revocations answered ${response.status}`);
    }
    const body = await readBodyText(response, MAX_REVOCATIONS_BYTES);
    if (body === undefined) {
      throw new EdgeError('pull_failed', `${this.name} revocations answered a body that is not UTF-8`);
    }
    return [body];
  }
}

/**
 * Through the Upstash REST API: first the serial alone (a few bytes, what nearly every pull reads); when it is
 * above the held one, the deltas above the held serial, and only for an edge that holds nothing, or whose deltas
 * were folded into the snapshot, the snapshot and every delta. No serial is an empty list (serial 0).
 */
export class UpstashRevocationSource implements RevocationSource {
  readonly name = 'UPSTASH_REDIS_REST_URL';
  /** Reads answers of a few bytes only: what nearly every pull asks is the serial. */
  readonly #small;
  readonly #large;

  constructor(url: string, token: string, fetchImpl: typeof fetch) {
    this.#small = upstashClient(url, token, fetchImpl, this.name, SERIAL_ANSWER_BYTES);
    // The snapshot inside `{"result": …}`: ASCII that JSON does not escape.
    this.#large = upstashClient(url, token, fetchImpl, this.name, MAX_REVOCATIONS_BYTES + 1024);
  }

  async pull(held: number): Promise<string[]> {
    const serial = parseSerial(await this.#small.get<unknown>(REVOCATION_SERIAL_REDIS_KEY));
    if (serial <= held) return [];
    if (held > 0) {
      const deltas = documents(
        await this.#large.zrange<unknown[]>(REVOCATION_DELTAS_REDIS_KEY, `(${held}`, '+inf', {
          byScore: true,
        }),
      );
      if (deltas.length > 0) return deltas;
    }
    // The deltas before the snapshot: a snapshot written in between holds every delta it dropped.
    const deltas = documents(await this.#large.zrange<unknown[]>(REVOCATION_DELTAS_REDIS_KEY, 0, -1));
    const snapshot = await this.#large.get<unknown>(REVOCATIONS_REDIS_KEY);
    if (snapshot === null) {
      if (deltas.length > 0) return deltas;
      throw new EdgeError(
        'pull_failed',
        `${REVOCATION_SERIAL_REDIS_KEY} is ${serial} but neither ${REVOCATIONS_REDIS_KEY} nor ${REVOCATION_DELTAS_REDIS_KEY} holds a list`,
      );
    }
    if (typeof snapshot !== 'string') {
      throw new EdgeError('pull_failed', `${REVOCATIONS_REDIS_KEY} is not a signed list`);
    }
    return [snapshot, ...deltas];
  }
}

/** The members of the deltas' sorted set, each a signed list. */
function documents(members: unknown[]): string[] {
  for (const member of members) {
    if (typeof member !== 'string') {
      throw new EdgeError(
        'pull_failed',
        `${REVOCATION_DELTAS_REDIS_KEY} holds a member that is not a signed list`,
      );
    }
  }
  return members as string[];
}

/** `{"result":"<16 digits>"}` and room. */
const SERIAL_ANSWER_BYTES = 256;

/** The stored serial: absent is 0. @upstash/redis hands a decimal back as a number (it decodes JSON values). */
function parseSerial(value: unknown): number {
  if (value === null || value === undefined) return 0;
  const text = String(value);
  const serial = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(serial)) {
    throw new EdgeError('pull_failed', `${REVOCATION_SERIAL_REDIS_KEY} is not a decimal serial`);
  }
  return serial;
}
