/** The keyset this isolate verifies with: only ever replaced by a higher version, keys imported once. */

import { type KeyRing, prepareKeyRing } from '../../../shared/key-ring.ts';
import type { Keyset } from '../../../shared/keyset.ts';
import { keysetHash } from '../../../shared/keyset-hash.ts';
import type { JwsAlg, VerifyPrimitive } from '../../../shared/verify-primitive.ts';
import { EdgeError } from '../errors.ts';

export interface KeysetStoreOptions {
  primitive: VerifyPrimitive;
  algorithms: readonly JwsAlg[];
  now: () => number;
  /** KEYSET_MAX_STALENESS: past this long without a confirmation, the held keyset is not used. */
  maxStalenessMs?: number;
}

export type AcceptOutcome = 'taken' | 'held';

export class KeysetStore {
  readonly #options: KeysetStoreOptions;
  #ring: KeyRing | undefined;
  /**
   * keysetHash of the held keyset, computed when first asked for: only a keyset of the held version needs it
   * (the same version with another hash is a conflict, never "already held"), and a newer one is taken unhashed.
   */
  #hash: { ring: KeyRing; hash: Promise<string> } | undefined;
  #takenAt = 0;
  #confirmedAt = 0;
  /** The primitive's synchronous SHA-256 (node:crypto), when it has one. */
  readonly #sha256: ((data: Uint8Array) => Uint8Array) | undefined;

  constructor(options: KeysetStoreOptions) {
    this.#options = options;
    this.#sha256 = options.primitive.envelope?.sha256;
  }

  get ring(): KeyRing | undefined {
    return this.#ring;
  }

  /**
   * The ring to verify with: the held one, unless no source has confirmed it for KEYSET_MAX_STALENESS, in
   * which case the edge fails closed (an emergency rotation it never heard of may have retired its keys).
   */
  usableRing(): KeyRing | undefined {
    return this.isTooStale() ? undefined : this.#ring;
  }

  /** True when a keyset is held but has gone unconfirmed for longer than KEYSET_MAX_STALENESS. */
  isTooStale(): boolean {
    const max = this.#options.maxStalenessMs ?? Number.POSITIVE_INFINITY;
    return this.#ring !== undefined && this.#options.now() - this.#confirmedAt > max;
  }

  get version(): number {
    return this.#ring?.version ?? 0;
  }

  /** Epoch ms at which the held keyset was taken. */
  get takenAt(): number {
    return this.#takenAt;
  }

  /** Epoch ms at which an origin last confirmed that nothing newer than the held keyset exists; 0 if never. */
  get confirmedAt(): number {
    return this.#confirmedAt;
  }

  /**
   * Takes `keyset` when its version is higher than the held one; the same keyset again is a no-op, a lower
   * version or the held version with other content a `keyset_conflict` (SPEC section 9: after a restore from a
   * backup one version number can name two keysets). The held ring is swapped in one assignment, so a request
   * sees either keyset, whole.
   */
  async accept(keyset: Keyset): Promise<AcceptOutcome> {
    // Each pass decides against the ring held when it began; another accept that finished meanwhile (while
    // this one hashed or imported keys) makes it decide again against the newer ring.
    for (;;) {
      const held = this.#ring;
      // An older version is refused on its number alone, before hashing it.
      this.#refuseOlder(keyset);
      if (held !== undefined && keyset.version === held.version) {
        const same = await this.#sameContent(keyset, held);
        if (this.#ring !== held) continue;
        if (same) return 'held';
        throw new EdgeError(
          'keyset_conflict',
          `keyset version ${held.version} is held with other content; a new keyset needs a higher version`,
        );
      }
      // Keys the held ring imported already (same kid, same key) are taken over, not imported again.
      const ring = await prepareKeyRing(keyset, this.#options.primitive, this.#options.algorithms, held);
      if (this.#ring !== held) continue;
      this.#ring = ring;
      this.#takenAt = this.#options.now();
      // Taking a keyset does not confirm it: anyone holding an old envelope can push it into an edge that holds
      // nothing newer. The next request's TTL check sees it unconfirmed and asks the sources (if any) at once.
      return 'taken';
    }
  }

  /** Records that a source was asked and had nothing newer. */
  confirm(): void {
    if (this.#ring !== undefined) this.#confirmedAt = this.#options.now();
  }

  /** True when `keyset` is the held one: same version, same content. */
  async holds(keyset: Keyset): Promise<boolean> {
    const held = this.#ring;
    return held !== undefined && keyset.version === held.version && (await this.#sameContent(keyset, held));
  }

  async #sameContent(keyset: Keyset, held: KeyRing): Promise<boolean> {
    if (this.#hash?.ring !== held) {
      const entry = { ring: held, hash: keysetHash(held.keyset, this.#sha256) };
      // A digest that failed is asked for again next time, not kept.
      entry.hash.catch(() => {
        if (this.#hash === entry) this.#hash = undefined;
      });
      this.#hash = entry;
    }
    const [hash, heldHash] = await Promise.all([keysetHash(keyset, this.#sha256), this.#hash.hash]);
    return hash === heldHash;
  }

  #refuseOlder(keyset: Keyset): void {
    if (keyset.version < this.version) {
      throw new EdgeError(
        'keyset_conflict',
        `keyset version ${keyset.version} is older than the held version ${this.version}`,
      );
    }
  }
}
