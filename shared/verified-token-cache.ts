/**
 * A bounded cache of successful verifications, on by default at the edge (VERIFY_CACHE_SIZE).
 *
 * Keyed by the token's signature segment: an HMAC of the rest of the token under one of our keys, so already
 * a keyed hash of it, computed by the issuer and free to read. An entry keeps the signing input it was
 * verified with, and a hit must match it whole, so a reused signature on another header or payload misses.
 *
 * Why it is safe to have on: an entry is served only against the same KeyRing (any keyset change, rotation or
 * revocation, empties the cache before the next lookup), never past the token's `exp` (plus the clock
 * tolerance it was accepted with), its key's `expires_at` or `maxAgeMs`, and failures are never cached, so
 * garbage cannot fill it. `nbf` needs no re-check: a token valid once stays valid as time moves on. Claim
 * checks (issuer, audience, algorithms) are fixed per cache, as the options are.
 */
import type { KeyRing } from './key-ring.ts';
import { type VerifyOptions, type VerifyResult, verifyToken } from './verify-token.ts';

export interface VerifiedTokenCacheOptions {
  /** Most tokens held; eviction is second-chance (CLOCK): the oldest token not used since it was last passed. */
  maxEntries: number;
  /** Most token characters held in all (tokens can be up to maxTokenBytes each); default 8 MiB. */
  maxChars?: number;
  /** Longest time a verdict is served without verifying again; default 60 s. */
  maxAgeMs?: number;
}

type ValidResult = Extract<VerifyResult, { valid: true }>;

interface Entry {
  token: string;
  result: ValidResult;
  /** Epoch ms from which the entry must not be served. */
  staleAt: number;
  /** Hit since eviction last passed it: it gets a second chance instead of being evicted. */
  used: boolean;
}

export class VerifiedTokenCache {
  readonly #options: VerifyOptions;
  readonly #maxEntries: number;
  readonly #maxChars: number;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, Entry>();
  #ring: KeyRing | undefined;
  #chars = 0;
  #hits = 0;
  #misses = 0;

  /** `options` are the verify options every cached verdict was reached with; one cache per set of options. */
  constructor(options: VerifyOptions, cacheOptions: VerifiedTokenCacheOptions) {
    const { maxEntries, maxChars = 8 * 1024 * 1024, maxAgeMs = 60_000 } = cacheOptions;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('maxEntries: expected a positive integer');
    }
    if (!Number.isSafeInteger(maxChars) || maxChars < 1) {
      throw new TypeError('maxChars: expected a positive integer');
    }
    if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0)
      throw new TypeError('maxAgeMs: expected a positive number');
    this.#options = options;
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
    this.#maxAgeMs = maxAgeMs;
  }

  /**
   * verifyToken, answered from the cache when the same token was verified against the same ring. Synchronous
   * on a hit, and on a miss whenever verifyToken is (a node:crypto ring).
   */
  verify(token: string, ring: KeyRing): VerifyResult | Promise<VerifyResult> {
    if (ring !== this.#ring) {
      // Another keyset: nothing verified against the old one may be served (a key may have been revoked).
      this.clear();
      this.#ring = ring;
    }
    const now = this.#options.now();
    const signature = token.slice(token.lastIndexOf('.') + 1);
    const entry = this.#entries.get(signature);
    // Same signature is not enough: the whole token must match (a signature pasted onto another payload).
    if (entry !== undefined && entry.token === token) {
      if (now < entry.staleAt) {
        entry.used = true;
        this.#hits++;
        return entry.result;
      }
      this.#drop(signature, entry);
    }
    this.#misses++;
    const result = verifyToken(token, ring, this.#options);
    if (result instanceof Promise) {
      return result.then((settled) => this.#remember(token, signature, ring, settled, now));
    }
    return this.#remember(token, signature, ring, result, now);
  }

  get size(): number {
    return this.#entries.size;
  }

  get stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }

  #remember(
    token: string,
    signature: string,
    ring: KeyRing,
    result: VerifyResult,
    now: number,
  ): VerifyResult {
    // The ring may have been replaced while verifying; only cache against the current one.
    if (!result.valid || ring !== this.#ring || token.length > this.#maxChars) return result;
    let staleAt = now + this.#maxAgeMs;
    const exp = result.claims.exp;
    if (typeof exp === 'number') staleAt = Math.min(staleAt, exp * 1000 + this.#options.clockToleranceMs);
    const key = ring.byKid.get(result.kid);
    if (key !== undefined) staleAt = Math.min(staleAt, key.expiresAt);
    if (staleAt <= now) return result;
    // Shared between callers: frozen, so one caller cannot change what the next one is told.
    deepFreeze(result);
    const previous = this.#entries.get(signature);
    if (previous !== undefined) this.#drop(signature, previous);
    this.#entries.set(signature, { token, result, staleAt, used: false });
    this.#chars += token.length;
    while (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, Entry];
      this.#entries.delete(oldest);
      if (entry.used || oldest === signature) {
        // Second chance: to the back of the queue, unmarked (and never the token just added). After one
        // sweep every other entry is unmarked, so the loop ends.
        entry.used = false;
        this.#entries.set(oldest, entry);
      } else {
        this.#chars -= entry.token.length;
      }
    }
    return result;
  }

  #drop(signature: string, entry: Entry): void {
    this.#entries.delete(signature);
    this.#chars -= entry.token.length;
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
