/**
 * The location's copy of the origin's last answer, in the Workers Cache API (`caches.default`): the isolate that
 * revalidates with the origin stores what the origin serves, and the other isolates of the location read it
 * instead of asking the origin again, so the origin sees about one request per location per KEYSET_REVALIDATE.
 * The Cache API never leaves the data center it was written in; on workers.dev it does nothing (every isolate
 * then asks the origin itself). The key names KEYSET_URL's host, not the Worker's: Cloudflare's documentation
 * warns that a foreign hostname in a cache request may cost a DNS lookup, paid here in the background only.
 */
import { MAX_ENVELOPE_BYTES } from '../../../../shared/keyset-envelope.ts';
import { readBodyText } from '../../http/read-body.ts';
import type { ValidatedEnvelope } from './keyset-source.ts';

/** The part of a Workers Cache the edge uses. */
export interface LocationCache {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

/** When the isolate that wrote the copy sent its request to the origin (epoch ms, its clock). */
const CHECKED_AT = 'x-keyward-checked-at';
/** Marks the cache key, so that no fetch of KEYSET_URL itself, through a zone that caches it, ever meets the copy. */
const KEY_PARAMETER = 'keyward-location-copy';

export class LocationCopy {
  readonly name = 'location cache';
  readonly #cache: LocationCache;
  readonly #key: string;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  /** `originUrl`: KEYSET_URL (or the Upstash key's URL); `maxAgeMs`: KEYSET_REVALIDATE. */
  constructor(cache: LocationCache, originUrl: string, maxAgeMs: number, now: () => number) {
    const key = new URL(originUrl);
    key.hash = '';
    key.searchParams.set(KEY_PARAMETER, '1');
    this.#cache = cache;
    this.#key = key.href;
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  /**
   * The origin's answer as another isolate of this location stored it, if that isolate asked the origin less than
   * KEYSET_REVALIDATE ago (by this isolate's clock, whatever the cache still holds); undefined otherwise.
   */
  async read(): Promise<ValidatedEnvelope | undefined> {
    const response = await this.#cache.match(this.#key);
    if (response === undefined) return undefined;
    const checkedAt = Number(response.headers.get(CHECKED_AT));
    const age = this.#now() - checkedAt;
    // A copy from the future is no copy: its writer's clock is wrong, and so would be its age.
    if (!Number.isFinite(checkedAt) || age >= this.#maxAgeMs || age < -this.#maxAgeMs) {
      await response.body?.cancel();
      return undefined;
    }
    const envelope = await readBodyText(response, MAX_ENVELOPE_BYTES);
    if (envelope === undefined || envelope.length === 0) return undefined;
    const etag = response.headers.get('etag') ?? undefined;
    return etag === undefined ? { envelope } : { envelope, etag };
  }

  /** Stores what the origin served to a request sent at `checkedAt`, for KEYSET_REVALIDATE. */
  async write(answer: ValidatedEnvelope, checkedAt: number): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/jose',
      // Whole seconds only: the cache keeps it up to a second longer than KEYSET_REVALIDATE, read() does not.
      'cache-control': `public, max-age=${Math.max(1, Math.ceil(this.#maxAgeMs / 1000))}`,
      [CHECKED_AT]: String(checkedAt),
    };
    if (answer.etag !== undefined) headers.etag = answer.etag;
    await this.#cache.put(this.#key, new Response(answer.envelope, { headers }));
  }
}
