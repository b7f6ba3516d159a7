/** The keyset this isolate verifies with: only ever replaced by a higher version, keys imported once. */
import type { HmacPrimitive, JwsHmacAlg } from '../../../shared/hmac.ts';
import { type KeyRing, prepareKeyRing } from '../../../shared/key-ring.ts';
import type { Keyset } from '../../../shared/keyset.ts';
import { EdgeError } from '../errors.ts';

export interface KeysetStoreOptions {
  primitive: HmacPrimitive;
  algorithms: readonly JwsHmacAlg[];
  now: () => number;
  /** KEYSET_MAX_STALENESS: past this long without a confirmation, the held keyset is not used. */
  maxStalenessMs?: number;
}

export type AcceptOutcome = 'taken' | 'held';

export class KeysetStore {
  readonly #options: KeysetStoreOptions;
  #ring: KeyRing | undefined;
  #takenAt = 0;
  #confirmedAt = 0;

  constructor(options: KeysetStoreOptions) {
    this.#options = options;
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
   * Takes `keyset` when its version is higher than the held one; the same version is a no-op, a lower one a
   * `keyset_conflict`. The held ring is swapped in one assignment, so a request sees either keyset, whole.
   */
  async accept(keyset: Keyset): Promise<AcceptOutcome> {
    const before = this.#check(keyset);
    if (before !== undefined) return before;
    const ring = await prepareKeyRing(keyset, this.#options.primitive, this.#options.algorithms);
    // Another accept may have finished while the keys were being imported.
    const after = this.#check(keyset);
    if (after !== undefined) return after;
    this.#ring = ring;
    this.#takenAt = this.#options.now();
    // Taking a keyset does not confirm it: anyone holding an old envelope can push it into an edge that holds
    // nothing newer. The next request's TTL check sees it unconfirmed and asks the sources (if any) at once.
    return 'taken';
  }

  /** Records that a source was asked and had nothing newer. */
  confirm(): void {
    if (this.#ring !== undefined) this.#confirmedAt = this.#options.now();
  }

  #check(keyset: Keyset): AcceptOutcome | undefined {
    const held = this.version;
    if (keyset.version === held) return 'held';
    if (keyset.version < held) {
      throw new EdgeError(
        'keyset_conflict',
        `keyset version ${keyset.version} is older than the held version ${held}`,
      );
    }
    return undefined;
  }
}
