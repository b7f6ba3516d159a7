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
  /** keysetHash of the held keyset: the same version with another hash is a conflict, never "already held". */
  #hash = '';
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
    // An older version is refused on its number alone, before hashing it.
    this.#refuseOlder(keyset);
    const hash = await keysetHash(keyset, this.#sha256);
    const before = this.#check(keyset, hash);
    if (before !== undefined) return before;
    const ring = await prepareKeyRing(keyset, this.#options.primitive, this.#options.algorithms);
    // Another accept may have finished while the keys were being imported.
    const after = this.#check(keyset, hash);
    if (after !== undefined) return after;
    this.#ring = ring;
    this.#hash = hash;
    this.#takenAt = this.#options.now();
    // Taking a keyset does not confirm it: anyone holding an old envelope can push it into an edge that holds
    // nothing newer. The next request's TTL check sees it unconfirmed and asks the sources (if any) at once.
    return 'taken';
  }

  /** Records that a source was asked and had nothing newer. */
  confirm(): void {
    if (this.#ring !== undefined) this.#confirmedAt = this.#options.now();
  }

  /** True when `keyset` is the held one: same version, same content. */
  async holds(keyset: Keyset): Promise<boolean> {
    return keyset.version === this.version && (await keysetHash(keyset, this.#sha256)) === this.#hash;
  }

  #check(keyset: Keyset, hash: string): AcceptOutcome | undefined {
    const held = this.version;
    if (keyset.version === held && held > 0) {
      if (hash === this.#hash) return 'held';
      throw new EdgeError(
        'keyset_conflict',
        `keyset version ${held} is held with other content; a new keyset needs a higher version`,
      );
    }
    this.#refuseOlder(keyset);
    return undefined;
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
