/** Verifies a token against the held keyset; an unknown kid triggers one (rate-limited) pull and a retry. */
import { type VerifyOptions, type VerifyResult, verifyToken } from '../../shared/verify-token.ts';
import type { KeysetStore } from './keyset-store.ts';
import type { KeysetSync } from './keyset-sync.ts';
import { tokenKid } from './token-kid.ts';

export class TokenVerifier {
  readonly #store: KeysetStore;
  readonly #sync: KeysetSync;
  readonly #options: VerifyOptions;

  constructor(store: KeysetStore, sync: KeysetSync, options: VerifyOptions) {
    this.#store = store;
    this.#sync = sync;
    this.#options = options;
  }

  /** undefined when no keyset is held. */
  async verify(token: string): Promise<VerifyResult | undefined> {
    const ring = this.#store.ring;
    if (ring === undefined) return undefined;
    const result = await verifyToken(token, ring, this.#options);
    if (result.valid || result.error !== 'key_unknown') return result;
    // A kid the ring has but that expired is a verdict; a kid it never had may be a rotation not seen yet.
    const kid = tokenKid(token);
    if (kid === undefined || ring.byKid.has(kid)) return result;
    if (!(await this.#sync.refreshForUnknownKid())) return result;
    const next = this.#store.ring;
    return next === undefined || next === ring ? result : verifyToken(token, next, this.#options);
  }
}
