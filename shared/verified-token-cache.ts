/**
 * An optional, bounded cache of successful verifications, keyed by the exact token string and bound to the
 * KeyRing it was verified against: a new keyset (rotation, revocation) invalidates every entry at once, and
 * a hit is re-checked against the clock (token exp, key expiry, maxAgeMs) before it is served. Failures are
 * never cached, so garbage tokens cannot fill it. Not wired into the edge.
 */
import type { KeyRing } from './key-ring.ts';
import { type VerifyOptions, type VerifyResult, verifyToken } from './verify-token.ts';

export interface VerifiedTokenCacheOptions {
  /** Most tokens held; the least recently used one goes first. Tokens can be up to maxTokenBytes each. */
  maxEntries: number;
  /** Longest time a verdict is served without verifying again; default 60 s. */
  maxAgeMs?: number;
}

type ValidResult = Extract<VerifyResult, { valid: true }>;

interface Entry {
  ring: KeyRing;
  result: ValidResult;
  /** Epoch ms from which the entry must not be served. */
  staleAt: number;
}

export class VerifiedTokenCache {
  readonly #options: VerifyOptions;
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, Entry>();
  #ring: KeyRing | undefined;
  #hits = 0;
  #misses = 0;

  /** `options` are the verify options every cached verdict was reached with; one cache per set of options. */
  constructor(options: VerifyOptions, cacheOptions: VerifiedTokenCacheOptions) {
    const { maxEntries, maxAgeMs = 60_000 } = cacheOptions;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('maxEntries: expected a positive integer');
    }
    if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0)
      throw new TypeError('maxAgeMs: expected a positive number');
    this.#options = options;
    this.#maxEntries = maxEntries;
    this.#maxAgeMs = maxAgeMs;
  }

  /** verifyToken, answered from the cache when the same token was verified against the same ring. */
  async verify(token: string, ring: KeyRing): Promise<VerifyResult> {
    if (ring !== this.#ring) {
      // Another keyset: nothing verified against the old one may be served (a key may have been revoked).
      this.#entries.clear();
      this.#ring = ring;
    }
    const now = this.#options.now();
    const entry = this.#entries.get(token);
    if (entry !== undefined) {
      this.#entries.delete(token);
      if (entry.ring === ring && now < entry.staleAt) {
        this.#entries.set(token, entry);
        this.#hits++;
        return entry.result;
      }
    }
    this.#misses++;
    const result = await verifyToken(token, ring, this.#options);
    // The ring may have been replaced while verifying; only cache against the current one.
    if (result.valid && ring === this.#ring) this.#remember(token, ring, result, now);
    return result;
  }

  get size(): number {
    return this.#entries.size;
  }

  get stats(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  clear(): void {
    this.#entries.clear();
  }

  #remember(token: string, ring: KeyRing, result: ValidResult, now: number): void {
    let staleAt = now + this.#maxAgeMs;
    const exp = result.claims.exp;
    if (typeof exp === 'number') staleAt = Math.min(staleAt, exp * 1000 + this.#options.clockToleranceMs);
    const key = ring.byKid.get(result.kid);
    if (key !== undefined) staleAt = Math.min(staleAt, key.expiresAt);
    if (staleAt <= now) return;
    // Shared between callers: frozen, so one caller cannot change what the next one is told.
    deepFreeze(result);
    this.#entries.set(token, { ring, result, staleAt });
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
