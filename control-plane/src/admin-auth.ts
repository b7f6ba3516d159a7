/** ADMIN_TOKEN checks: constant-time comparison and a per-peer brake on repeated failures. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ControlPlaneError } from './errors.ts';

export interface AdminAuthOptions {
  /**
   * Failures allowed per peer before it is locked out; a peer's count is forgotten once it has been quiet
   * (no failure, no lockout) for `windowMs`.
   */
  maxFailures?: number;
  windowMs?: number;
  /** First lockout; doubles with each further failure, up to `maxLockoutMs`. */
  lockoutMs?: number;
  maxLockoutMs?: number;
  now?: () => number;
}

interface PeerRecord {
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
}

/** Peers remembered at most; the oldest are forgotten first so a flood of addresses cannot grow memory. */
const MAX_PEERS = 10_000;

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export class AdminAuth {
  readonly #expected: Buffer;
  readonly #peers = new Map<string, PeerRecord>();
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #lockoutMs: number;
  readonly #maxLockoutMs: number;
  readonly #now: () => number;

  constructor(adminToken: string, options: AdminAuthOptions = {}) {
    this.#expected = digest(adminToken);
    this.#maxFailures = options.maxFailures ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#lockoutMs = options.lockoutMs ?? 1_000;
    this.#maxLockoutMs = options.maxLockoutMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Throws `rate_limited` while the peer is locked out (before looking at the token, so a locked-out peer
   * learns nothing), `permission_denied` for a wrong or missing token.
   */
  check(peer: string, token: string | undefined): void {
    const now = this.#now();
    const record = this.#peers.get(peer);
    if (record && now < record.lockedUntil) {
      const seconds = Math.ceil((record.lockedUntil - now) / 1000);
      throw new ControlPlaneError(
        'rate_limited',
        `Too many failed admin token attempts; retry in ${seconds}s`,
      );
    }
    // Hashing first makes the comparison independent of the token's length and of how much of it matched.
    if (token !== undefined && token.length > 0 && timingSafeEqual(digest(token), this.#expected)) {
      this.#peers.delete(peer);
      return;
    }
    this.#recordFailure(peer, now, record);
    throw new ControlPlaneError('permission_denied', 'Invalid admin token');
  }

  #recordFailure(peer: string, now: number, existing: PeerRecord | undefined): void {
    let record = existing;
    // Quiet since the last failure and past any lockout: start over. Measured from the end of the lockout, so
    // lockouts keep doubling (to maxLockoutMs) for a peer that resumes guessing as soon as one ends.
    if (!record || now - Math.max(record.lastFailureAt, record.lockedUntil) > this.#windowMs) {
      record = { failures: 0, lastFailureAt: now, lockedUntil: 0 };
    }
    record.failures += 1;
    record.lastFailureAt = now;
    if (record.failures >= this.#maxFailures) {
      const exponent = record.failures - this.#maxFailures;
      record.lockedUntil = now + Math.min(this.#lockoutMs * 2 ** exponent, this.#maxLockoutMs);
    }
    this.#peers.delete(peer);
    this.#peers.set(peer, record);
    if (this.#peers.size > MAX_PEERS) this.#peers.delete(this.#peers.keys().next().value as string);
  }
}
