/** ADMIN_TOKEN checks: constant-time comparison and a per-peer brake on repeated failures. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { adminTokens } from './config.ts';
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

/**
 * Peers remembered at most, so that a flood of addresses cannot grow memory. The oldest peer not locked out is
 * forgotten first; a locked-out peer never is.
 */
export const MAX_PEERS = 10_000;

/** What a wrong or missing admin token is told (SPEC section 2), on every interface. */
export const INVALID_ADMIN_TOKEN = 'Invalid admin token';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export class AdminAuth {
  #expected: Buffer[];
  readonly #peers = new Map<string, PeerRecord>();
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #lockoutMs: number;
  readonly #maxLockoutMs: number;
  readonly #now: () => number;

  /**
   * `adminToken`: the accepted tokens, or an ADMIN_TOKEN value (one token, or two separated by a comma while
   * a new one replaces the old).
   */
  constructor(adminToken: string | readonly string[], options: AdminAuthOptions = {}) {
    this.#expected = AdminAuth.#digests(adminToken);
    this.#maxFailures = options.maxFailures ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#lockoutMs = options.lockoutMs ?? 1_000;
    this.#maxLockoutMs = options.maxLockoutMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Replaces the accepted tokens (a reload); the brake's records are kept. */
  setTokens(adminToken: string | readonly string[]): void {
    this.#expected = AdminAuth.#digests(adminToken);
  }

  /** How many tokens are accepted now. */
  get tokenCount(): number {
    return this.#expected.length;
  }

  static #digests(adminToken: string | readonly string[]): Buffer[] {
    const tokens = typeof adminToken === 'string' ? adminTokens(adminToken) : [...adminToken];
    if (tokens.length === 0) throw new Error('AdminAuth needs at least one token');
    return tokens.map(digest);
  }

  /**
   * Lets the right token through, always; refuses a wrong or missing one with `permission_denied`, or with
   * `rate_limited` while its peer is locked out (which gRPC answers as PERMISSION_DENIED too, SPEC section 2).
   * The brake refuses only wrong tokens: one that also refused the right token would let anyone sharing the
   * operator's address (a NAT, an ingress, the dashboard's port) lock the operator out of an emergency rotation
   * with a few bad guesses. A locked-out peer learns that a guess is
   * right only by making the right one, which a token of 64 characters or more puts out of reach.
   */
  check(address: string, token: string | undefined): void {
    // Hashing first makes the comparison independent of the token's length and of how much of it matched;
    // every accepted token is compared, so the time taken does not tell which one matched.
    const matched = token !== undefined && token.length > 0 && matchesAny(digest(token), this.#expected);
    const peer = brakedPeer(address);
    if (matched) {
      this.#peers.delete(peer);
      return;
    }
    const now = this.#now();
    const record = this.#peers.get(peer);
    // Every peer remembered is locked out: a new one is braked too, since forgetting a locked-out peer would free
    // it and a new peer whose failures are not counted could guess without end. Lockouts end within
    // maxLockoutMs of a peer's last failure, and then room is made again.
    if (record === undefined && this.#peers.size >= MAX_PEERS && !this.#forgetOneUnlocked(now)) {
      throw new ControlPlaneError('rate_limited', 'Too many failed admin token attempts; retry later');
    }
    if (record && now < record.lockedUntil) {
      const seconds = Math.ceil((record.lockedUntil - now) / 1000);
      throw new ControlPlaneError(
        'rate_limited',
        `Too many failed admin token attempts; retry in ${seconds}s`,
      );
    }
    this.#recordFailure(peer, now, record);
    throw new ControlPlaneError('permission_denied', INVALID_ADMIN_TOKEN);
  }

  /**
   * Whether `token` is still accepted (after a reload), compared as `check` compares, without the brake: for a
   * caller `check` already let in (an open dashboard stream) and that is not guessing. Records nothing.
   */
  stillAccepts(token: string): boolean {
    return token.length > 0 && matchesAny(digest(token), this.#expected);
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
  }

  /** Forgets the peer that failed longest ago among those not locked out; false when every one is. */
  #forgetOneUnlocked(now: number): boolean {
    for (const [peer, record] of this.#peers) {
      if (now >= record.lockedUntil) return this.#peers.delete(peer);
    }
    return false;
  }
}

function matchesAny(given: Buffer, expected: readonly Buffer[]): boolean {
  let matched = false;
  for (const candidate of expected) matched = timingSafeEqual(given, candidate) || matched;
  return matched;
}

/**
 * What the brake counts failures against: an IPv6 address's /64 (one host or customer holds a whole /64, and
 * stepping through it costs nothing), an IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, an IPv4 client on a
 * dual-stack socket) as its IPv4 address, anything else as it is.
 */
export function brakedPeer(address: string): string {
  const unzoned = address.replace(/%.*$/, '');
  if (!isIPv6(unzoned)) return address;
  const groups = ipv6Groups(unzoned);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high, low] = [groups[6] as number, groups[7] as number];
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail turned into two groups). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16));
}
