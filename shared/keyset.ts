/** The keyset model (SPEC section 5) and the pure functions that change it: rotate, prune, revoke. */
import { encodeBase64url, utf8 } from './base64url.ts';
import { KeywardError } from './errors.ts';

export type KeyStatus = 'active' | 'previous';

export interface KeyEntry {
  kid: string;
  alg: 'HS256';
  /** base64url of the secret's UTF-8 bytes. */
  k: string;
  status: KeyStatus;
  created_at: string;
  /** For `previous` keys: superseded-at + grace period. `null` for the active key. */
  expires_at: string | null;
  /** Sequence number of the secret: 1 for the first one ever installed, never reused. */
  version: number;
}

export interface Keyset {
  /** Rises by one on every change and never goes back. */
  version: number;
  issued_at: string;
  /** The active key first, then previous keys, newest first. */
  keys: KeyEntry[];
  /**
   * keysetHash (shared/keyset-hash.ts) of the keyset this one replaced in storage; absent on the first. The
   * versions form a chain that `npx keyward audit` checks.
   */
  previous_hash?: string;
}

/** A new secret with its kid already computed (the kid needs async WebCrypto; the rotation stays pure). */
export interface NewSecret {
  secret: string;
  kid: string;
}

export interface RotateOptions {
  now: Date;
  gracePeriodMs: number;
  /**
   * Emergency: the secret is presumed leaked, so the superseded key and every earlier key still in grace stop
   * verifying at once; only the new key remains.
   */
  emergency?: boolean;
}

/** The shortest secret accepted (bytes of UTF-8), as in the seed's `new_secret.len() < 32`. */
export const MIN_SECRET_BYTES = 32;

/** Checks a secret's strength; throws `secret_too_weak`. */
export function assertSecretStrength(secret: string): void {
  if (utf8(secret).length < MIN_SECRET_BYTES) {
    throw new KeywardError('secret_too_weak', 'Secret too weak');
  }
}

/** The active key, or undefined for the empty keyset storage reads as before the first write. */
export function findActiveKey(keyset: Keyset): KeyEntry | undefined {
  return keyset.keys.find((key) => key.status === 'active');
}

/** The active key; throws `keyset_invalid` when there is none. */
export function activeKey(keyset: Keyset): KeyEntry {
  const active = findActiveKey(keyset);
  if (!active) throw new KeywardError('keyset_invalid', 'keyset has no active key');
  return active;
}

export function isExpired(key: KeyEntry, now: Date): boolean {
  return key.expires_at !== null && Date.parse(key.expires_at) <= now.getTime();
}

/**
 * Installs `next` as the active key. The active key becomes `previous` until now + grace, expired previous keys
 * are pruned (with `emergency`, all earlier keys are dropped), and the version rises by one. A first rotation
 * over no keyset creates version 1.
 */
export function rotateKeyset(current: Keyset | null, next: NewSecret, options: RotateOptions): Keyset {
  assertSecretStrength(next.secret);
  const { now } = options;
  const issuedAt = now.toISOString();
  const fresh: KeyEntry = {
    kid: next.kid,
    alg: 'HS256',
    k: encodeBase64url(utf8(next.secret)),
    status: 'active',
    created_at: issuedAt,
    expires_at: null,
    version: 1,
  };
  if (current === null) return { version: 1, issued_at: issuedAt, keys: [fresh] };

  if (current.keys.some((key) => key.kid === next.kid)) {
    throw new KeywardError('secret_reused', 'Secret already in the keyset');
  }
  const superseded = activeKey(current);
  fresh.version = Math.max(...current.keys.map((key) => key.version)) + 1;
  if (options.emergency) return { version: current.version + 1, issued_at: issuedAt, keys: [fresh] };
  const expiresAt = new Date(now.getTime() + options.gracePeriodMs);
  const demoted: KeyEntry[] =
    options.gracePeriodMs <= 0
      ? []
      : [{ ...superseded, status: 'previous', expires_at: expiresAt.toISOString() }];
  const kept = current.keys.filter((key) => key.status === 'previous' && !isExpired(key, now));
  return { version: current.version + 1, issued_at: issuedAt, keys: [fresh, ...demoted, ...kept] };
}

/** Drops expired previous keys. Returns `current` itself when nothing expired, so callers can skip a write. */
export function pruneKeyset(current: Keyset, now: Date): Keyset {
  const kept = current.keys.filter((key) => !isExpired(key, now));
  if (kept.length === current.keys.length) return current;
  return { version: current.version + 1, issued_at: now.toISOString(), keys: kept };
}

/** Drops a previous key at once (emergency). The active key can never be revoked: rotate instead. */
export function revokeKey(current: Keyset, kid: string, now: Date): Keyset {
  const target = current.keys.find((key) => key.kid === kid);
  if (!target) throw new KeywardError('key_not_found', 'No key with this kid in the keyset');
  if (target.status === 'active') {
    throw new KeywardError(
      'key_is_active',
      'The active key cannot be revoked; rotate with emergency instead',
    );
  }
  return {
    version: current.version + 1,
    issued_at: now.toISOString(),
    keys: current.keys.filter((key) => key.kid !== kid),
  };
}

/** The earliest instant at which `pruneKeyset` would change the keyset, or null if never. */
export function nextExpiry(keyset: Keyset): Date | null {
  const times = keyset.keys.flatMap((key) => (key.expires_at === null ? [] : [Date.parse(key.expires_at)]));
  return times.length === 0 ? null : new Date(Math.min(...times));
}
