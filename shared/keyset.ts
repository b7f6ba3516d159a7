/** The keyset model (SPEC section 5) and the pure functions that change it: rotate, prune, revoke. */
import { decodeBase64url, encodeBase64url, fromUtf8, utf8 } from './base64url.ts';
import { KeywardError } from './errors.ts';

/** `standby`: published and verifying, not yet signing; `active`: signs (exactly one); `previous`: in grace. */
export type KeyStatus = 'standby' | 'active' | 'previous';

/** The algorithms a key can have (SPEC section 8); each key verifies only its own. */
export type KeyAlg = 'HS256' | 'ES256' | 'EdDSA';
export const KEY_ALGORITHMS: readonly KeyAlg[] = ['HS256', 'ES256', 'EdDSA'];

interface KeyEntryBase {
  kid: string;
  status: KeyStatus;
  created_at: string;
  /** For `previous` keys: superseded-at + grace period. `null` for the active and standby keys. */
  expires_at: string | null;
  /** Sequence number of the key: 1 for the first one ever installed, never reused. */
  version: number;
}

export interface HmacKeyEntry extends KeyEntryBase {
  alg: 'HS256';
  /** base64url of the secret's UTF-8 bytes. */
  k: string;
}

/**
 * An asymmetric key: its public JWK members, and `d` (the private key) only in the control plane's own copy of
 * the keyset. A keyset that leaves the control plane never carries `d` (publicKeyset, parseKeyset).
 */
export interface EcKeyEntry extends KeyEntryBase {
  alg: 'ES256';
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  d?: string;
}

export interface OkpKeyEntry extends KeyEntryBase {
  alg: 'EdDSA';
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d?: string;
}

export type AsymmetricKeyEntry = EcKeyEntry | OkpKeyEntry;
export type KeyEntry = HmacKeyEntry | AsymmetricKeyEntry;

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
  alg?: 'HS256';
  secret: string;
  kid: string;
}

/** A new key pair: its JWK members with the private `d`, and its kid (the public JWK's thumbprint). */
export type NewKeyPair =
  | { alg: 'ES256'; kid: string; kty: 'EC'; crv: 'P-256'; x: string; y: string; d: string }
  | { alg: 'EdDSA'; kid: string; kty: 'OKP'; crv: 'Ed25519'; x: string; d: string };

export type NewKey = NewSecret | NewKeyPair;

export function isKeyPair(next: NewKey): next is NewKeyPair {
  return next.alg === 'ES256' || next.alg === 'EdDSA';
}

export interface RotateOptions {
  now: Date;
  gracePeriodMs: number;
  /**
   * Emergency: the secret is presumed leaked, so the superseded key and every earlier key still in grace stop
   * verifying at once; only the new key remains.
   */
  emergency?: boolean;
  /**
   * The secret is one issuers already sign with (the `jwt_secrets:active` or `JWT_SECRET` a first start takes
   * as version 1): taken whatever its length, since refusing it would not make it any stronger.
   */
  inUse?: boolean;
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

/** The keyset entry of a new key (version 1; callers number it), public and private members as given. */
function newEntry(next: NewKey, status: KeyStatus, createdAt: string, inUse = false): KeyEntry {
  const base = { kid: next.kid, status, created_at: createdAt, expires_at: null, version: 1 };
  if (!isKeyPair(next)) {
    if (!inUse) assertSecretStrength(next.secret);
    return { ...base, alg: 'HS256', k: encodeBase64url(utf8(next.secret)) };
  }
  if (next.alg === 'ES256') {
    const { kty, crv, x, y, d } = next;
    return { ...base, alg: 'ES256', kty, crv, x, y, d };
  }
  const { kty, crv, x, d } = next;
  return { ...base, alg: 'EdDSA', kty, crv, x, d };
}

function nextKeyVersion(current: Keyset): number {
  return Math.max(...current.keys.map((key) => key.version)) + 1;
}

function assertNewKid(current: Keyset, kid: string): void {
  if (current.keys.some((key) => key.kid === kid)) {
    throw new KeywardError('secret_reused', 'Secret already in the keyset');
  }
}

/** The standby key, if any (there is at most one). */
export function findStandbyKey(keyset: Keyset): KeyEntry | undefined {
  return keyset.keys.find((key) => key.status === 'standby');
}

/**
 * The keys after `promoted` becomes active: the active key becomes `previous` until now + grace, expired previous
 * keys are pruned, and a standby key other than `promoted` stays. With `emergency` every earlier key is dropped,
 * a standby one too: it verifies as much as any other, and after a leak of the admin token it may be one the
 * intruder staged.
 */
function promoteEntry(current: Keyset, promoted: KeyEntry, options: RotateOptions): KeyEntry[] {
  const { now } = options;
  const fresh: KeyEntry = { ...promoted, status: 'active', expires_at: null };
  if (options.emergency) return [fresh];
  const standby = current.keys.filter((key) => key.status === 'standby' && key.kid !== promoted.kid);
  const superseded = activeKey(current);
  const expiresAt = new Date(now.getTime() + options.gracePeriodMs);
  const demoted: KeyEntry[] =
    options.gracePeriodMs <= 0
      ? []
      : [{ ...superseded, status: 'previous', expires_at: expiresAt.toISOString() }];
  const kept = current.keys.filter((key) => key.status === 'previous' && !isExpired(key, now));
  return [fresh, ...standby, ...demoted, ...kept];
}

/**
 * Installs `next` as the active key in one step (stage and promote): the active key becomes `previous` until
 * now + grace, expired previous keys are pruned, and the version rises by one. A first rotation over no keyset
 * creates version 1. A standby key stays standby; with `emergency`, every earlier key is dropped, standby too.
 */
export function rotateKeyset(current: Keyset | null, next: NewKey, options: RotateOptions): Keyset {
  const issuedAt = options.now.toISOString();
  const fresh = newEntry(next, 'active', issuedAt, options.inUse);
  if (current === null) return { version: 1, issued_at: issuedAt, keys: [fresh] };
  assertNewKid(current, next.kid);
  fresh.version = nextKeyVersion(current);
  return { version: current.version + 1, issued_at: issuedAt, keys: promoteEntry(current, fresh, options) };
}

/**
 * Adds `next` as the standby key: it verifies everywhere but nothing signs with it until promoteKey. At most
 * one standby key at a time (`standby_exists`).
 */
export function stageKey(current: Keyset, next: NewKey, now: Date): Keyset {
  const standby = findStandbyKey(current);
  if (standby !== undefined) {
    throw new KeywardError(
      'standby_exists',
      `Key ${standby.kid} is already standby; promote or revoke it before staging another`,
    );
  }
  assertNewKid(current, next.kid);
  const issuedAt = now.toISOString();
  const fresh = { ...newEntry(next, 'standby', issuedAt), version: nextKeyVersion(current) };
  const [active, ...rest] = current.keys;
  const keys = active?.status === 'active' ? [active, fresh, ...rest] : [fresh, ...current.keys];
  return { version: current.version + 1, issued_at: issuedAt, keys };
}

/** Makes the standby key `kid` active (`key_not_standby` when `kid` names no standby key). */
export function promoteKey(current: Keyset, kid: string, options: RotateOptions): Keyset {
  const target = current.keys.find((key) => key.kid === kid);
  if (target === undefined || target.status !== 'standby') {
    throw new KeywardError(
      target === undefined ? 'key_not_found' : 'key_not_standby',
      target === undefined
        ? 'No key with this kid in the keyset'
        : `Key ${kid} is ${target.status}, not standby: only the standby key can be promoted`,
    );
  }
  return {
    version: current.version + 1,
    issued_at: options.now.toISOString(),
    keys: promoteEntry(current, target, options),
  };
}

/** True when `a` and `b` are one key for one algorithm: the same key material (kid, status and times aside). */
export function sameKey(a: KeyEntry, b: KeyEntry): boolean {
  switch (a.alg) {
    case 'HS256':
      return b.alg === 'HS256' && a.k === b.k;
    case 'ES256':
      return b.alg === 'ES256' && a.crv === b.crv && a.x === b.x && a.y === b.y;
    case 'EdDSA':
      return b.alg === 'EdDSA' && a.crv === b.crv && a.x === b.x;
  }
}

/** The keyset as it may leave the control plane: asymmetric keys without their private member `d`. */
export function publicKeyset(keyset: Keyset): Keyset {
  if (!keyset.keys.some((key) => key.alg !== 'HS256' && key.d !== undefined)) return keyset;
  return { ...keyset, keys: keyset.keys.map(publicEntry) };
}

function publicEntry(key: KeyEntry): KeyEntry {
  if (key.alg === 'HS256' || key.d === undefined) return key;
  const { d: _private, ...rest } = key;
  return rest as KeyEntry;
}

/** A private JWK (SPEC section 8, `jwt_secrets:signing_key`): what an issuer signs with. */
export type SigningJwk =
  | { kty: 'oct'; k: string; kid: string; alg: 'HS256' }
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string; d: string; kid: string; alg: 'ES256' }
  | { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string; kid: string; alg: 'EdDSA' };

/** The active key as a private JWK; `keyset_invalid` when an asymmetric active key has lost its `d`. */
export function signingJwk(keyset: Keyset): SigningJwk {
  const key = activeKey(keyset);
  if (key.alg === 'HS256') return { kty: 'oct', k: key.k, kid: key.kid, alg: 'HS256' };
  if (key.d === undefined) {
    throw new KeywardError('keyset_invalid', `active key ${key.kid} has no private key in this keyset`);
  }
  if (key.alg === 'ES256') {
    return { kty: 'EC', crv: 'P-256', x: key.x, y: key.y, d: key.d, kid: key.kid, alg: 'ES256' };
  }
  return { kty: 'OKP', crv: 'Ed25519', x: key.x, d: key.d, kid: key.kid, alg: 'EdDSA' };
}

/**
 * What `jwt_secrets:active` holds for legacy issuers (SPEC section 4): the active key's secret when it is HS256;
 * while an asymmetric key is active, the newest HS256 key still in the keyset (it verifies until its grace ends);
 * null (the key is deleted) once no HS256 key is left.
 */
export function legacyActiveSecret(keyset: Keyset): string | null {
  const active = findActiveKey(keyset);
  const hmac =
    active?.alg === 'HS256'
      ? active
      : keyset.keys
          .filter((key): key is HmacKeyEntry => key.alg === 'HS256' && key.status === 'previous')
          .sort((a, b) => b.version - a.version)[0];
  if (hmac === undefined) return null;
  return fromUtf8(decodeBase64url(hmac.k) ?? new Uint8Array()) ?? null;
}

/** Drops expired previous keys. Returns `current` itself when nothing expired, so callers can skip a write. */
export function pruneKeyset(current: Keyset, now: Date): Keyset {
  const kept = current.keys.filter((key) => !isExpired(key, now));
  if (kept.length === current.keys.length) return current;
  return { version: current.version + 1, issued_at: now.toISOString(), keys: kept };
}

/** Drops a previous or standby key at once (emergency). The active key can never be revoked: rotate instead. */
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
