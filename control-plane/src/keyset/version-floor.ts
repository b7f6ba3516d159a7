/**
 * The highest keyset and secret versions this process has held. After storage went back in time (restored from
 * an older backup, or failed over to a replica that lagged), new versions start above them, so that no version
 * is issued twice with different keys (an edge holding the lost one would answer "already held" to the new one).
 */
import type { Keyset } from '../../../shared/keyset.ts';

export class VersionFloor {
  #keyset = 0;
  #key = 0;

  /** Records a keyset this process came to hold. */
  observe(keyset: Keyset): void {
    this.#keyset = Math.max(this.#keyset, keyset.version);
    this.#key = Math.max(this.#key, ...keyset.keys.map((key) => key.version));
  }

  /** Records a keyset version held elsewhere (an edge reported it): the next change is numbered above it. */
  observeVersion(version: number): void {
    this.#keyset = Math.max(this.#keyset, version);
  }

  /** Records a secret version storage's history holds: new secrets are numbered above it. */
  observeSecretVersion(version: number): void {
    this.#key = Math.max(this.#key, version);
  }

  /** The keyset version the next change gets at the least. */
  get nextKeysetVersion(): number {
    return this.#keyset + 1;
  }

  /**
   * `next` numbered above every version this process has held: unchanged, except after storage went back in
   * time, when the keyset version and the new secrets' versions would otherwise repeat lost ones.
   */
  raise(current: Keyset | null, next: Keyset): Keyset {
    const known = new Set(current?.keys.map((key) => key.kid));
    let keyVersion = this.#key;
    const floor = this.#key;
    const keys = next.keys.map((key) =>
      known.has(key.kid) || key.version > floor ? key : { ...key, version: ++keyVersion },
    );
    const version = Math.max(next.version, this.#keyset + 1);
    if (version === next.version && keys.every((key, i) => key === next.keys[i])) return next;
    return { ...next, version, keys };
  }
}
