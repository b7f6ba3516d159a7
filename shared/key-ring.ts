/** A keyset prepared for verification: every key imported once, looked up by kid, in seed order. */
import { decodeBase64url } from './base64url.ts';
import type { HmacPrimitive, JwsHmacAlg } from './hmac.ts';
import type { Keyset } from './keyset.ts';

export interface RingKey {
  kid: string;
  status: 'active' | 'previous';
  /** Epoch ms after which the key no longer verifies; Infinity for the active key. */
  expiresAt: number;
  /** One imported key per allowed HMAC algorithm. */
  keys: Partial<Record<JwsHmacAlg, unknown>>;
}

export interface KeyRing {
  readonly version: number;
  readonly issuedAt: string;
  readonly keyset: Keyset;
  readonly byKid: ReadonlyMap<string, RingKey>;
  /** Active first, then previous keys (newest first): the order for tokens without kid. */
  readonly ordered: readonly RingKey[];
  /** The algorithms every key was imported for. */
  readonly algorithms: ReadonlySet<string>;
  readonly primitive: HmacPrimitive;
}

export async function prepareKeyRing(
  keyset: Keyset,
  primitive: HmacPrimitive,
  algorithms: readonly JwsHmacAlg[] = ['HS256'],
): Promise<KeyRing> {
  const sorted = [...keyset.keys].sort((a, b) =>
    a.status === b.status
      ? Date.parse(b.created_at) - Date.parse(a.created_at)
      : a.status === 'active'
        ? -1
        : 1,
  );
  const ordered: RingKey[] = [];
  for (const entry of sorted) {
    const raw = decodeBase64url(entry.k) as Uint8Array;
    const keys: RingKey['keys'] = {};
    for (const alg of algorithms) keys[alg] = await primitive.importKey(raw, alg);
    ordered.push({
      kid: entry.kid,
      status: entry.status,
      expiresAt: entry.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(entry.expires_at),
      keys,
    });
  }
  return {
    version: keyset.version,
    issuedAt: keyset.issued_at,
    keyset,
    byKid: new Map(ordered.map((key) => [key.kid, key])),
    ordered,
    algorithms: new Set(algorithms),
    primitive,
  };
}
