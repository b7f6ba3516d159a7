/**
 * Verifies a token against the held keyset, through the verified-token cache when it is on; an unknown kid
 * triggers one (rate-limited) pull and a retry. Every valid verdict, cached or fresh, then goes through the
 * revocation set, so the cache can never serve a revoked token.
 */
import { parseJoseSegment } from '../../shared/jose-segment.ts';
import type { KeyRing } from '../../shared/key-ring.ts';
import { RevocationSet } from '../../shared/revocations.ts';
import { VerifiedTokenCache } from '../../shared/verified-token-cache.ts';
import { type VerifyOptions, type VerifyResult, verifyToken } from '../../shared/verify-token.ts';
import type { KeysetStore } from './keyset/keyset-store.ts';
import type { KeysetSync } from './keyset/keyset-sync.ts';

export class TokenVerifier {
  readonly #store: KeysetStore;
  readonly #sync: KeysetSync;
  readonly #options: VerifyOptions;
  readonly #cache: VerifiedTokenCache | undefined;
  readonly #revocations: RevocationSet;

  /** `cacheSize` 0 turns the verified-token cache off; `revocations`: the edge's held revocations. */
  constructor(
    store: KeysetStore,
    sync: KeysetSync,
    options: VerifyOptions,
    cacheSize = 0,
    revocations: RevocationSet = new RevocationSet(),
  ) {
    this.#store = store;
    this.#sync = sync;
    this.#options = options;
    this.#revocations = revocations;
    this.#cache = cacheSize > 0 ? new VerifiedTokenCache(options, { maxEntries: cacheSize }) : undefined;
  }

  /** Hits and misses of the verified-token cache; undefined when it is off. */
  get cacheStats(): { hits: number; misses: number; size: number } | undefined {
    return this.#cache === undefined ? undefined : { ...this.#cache.stats, size: this.#cache.size };
  }

  /**
   * undefined when no keyset is usable (none held, or unconfirmed past KEYSET_MAX_STALENESS). Synchronous unless
   * the primitive is asynchronous (WebCrypto) or a kid the ring never had waits for a pull: on Node and Bun the
   * verdict of a known kid costs no microtask.
   */
  verify(token: string): VerifyResult | undefined | Promise<VerifyResult | undefined> {
    const ring = this.#store.usableRing();
    if (ring === undefined) return undefined;
    const result = this.#check(token, ring);
    return result instanceof Promise
      ? result.then((settled) => this.#orPull(token, ring, settled))
      : this.#orPull(token, ring, result);
  }

  /**
   * `result` (`token_revoked` when it is valid but revoked), unless it is `key_unknown` for a kid the ring never
   * had: then a pull and a second check.
   */
  #orPull(token: string, ring: KeyRing, result: VerifyResult): VerifyResult | Promise<VerifyResult> {
    if (result.valid) return this.#unlessRevoked(result);
    if (result.error !== 'key_unknown') return result;
    // A kid the ring has but that expired is a verdict; a kid it never had may be a rotation not seen yet.
    const kid = tokenKid(token);
    if (kid === undefined || ring.byKid.has(kid)) return result;
    return this.#afterPull(token, ring, result);
  }

  async #afterPull(token: string, ring: KeyRing, result: VerifyResult): Promise<VerifyResult> {
    if (!(await this.#sync.refreshForUnknownKid())) return result;
    const next = this.#store.usableRing();
    if (next === undefined || next === ring) return result;
    const again = await this.#check(token, next);
    return again.valid ? this.#unlessRevoked(again) : again;
  }

  #unlessRevoked(result: VerifyResult & { valid: true }): VerifyResult {
    // Most edges hold no revocation: then not even the clock is read.
    const revocations = this.#revocations;
    return revocations.size > 0 && revocations.isRevoked(result.claims, this.#options.now())
      ? REVOKED
      : result;
  }

  #check(token: string, ring: KeyRing): VerifyResult | Promise<VerifyResult> {
    return this.#cache === undefined
      ? verifyToken(token, ring, this.#options)
      : this.#cache.verify(token, ring);
  }
}

const REVOKED: VerifyResult = Object.freeze({ valid: false, error: 'token_revoked' });

/** The `kid` a token's header names, read without verifying anything; undefined when absent or bad. */
function tokenKid(token: string): string | undefined {
  const dot = token.indexOf('.');
  const kid = dot < 0 ? undefined : parseJoseSegment(token.slice(0, dot))?.kid;
  return typeof kid === 'string' ? kid : undefined;
}
