/**
 * The JWK Set of a keyset (SPEC section 8, `GET /.well-known/jwks.json`): the public JWK of every standby, active
 * and previous asymmetric key still valid, for third parties that verify Keyward-issued tokens with a JWKS
 * client. Never a symmetric key, never a private member.
 */
import { encodeBase64url, utf8 } from './base64url.ts';
import { isExpired, type Keyset } from './keyset.ts';
import { publicJwk } from './verify-primitive.ts';

export interface PublicJwk {
  kty: 'EC' | 'OKP';
  crv: 'P-256' | 'Ed25519';
  x: string;
  y?: string;
  kid: string;
  alg: 'ES256' | 'EdDSA';
  use: 'sig';
}

export function jwks(keyset: Keyset, now: Date): { keys: PublicJwk[] } {
  const keys: PublicJwk[] = [];
  for (const key of keyset.keys) {
    if (key.alg === 'HS256' || isExpired(key, now)) continue;
    const members = publicJwk(key) as Pick<PublicJwk, 'kty' | 'crv' | 'x' | 'y'>;
    keys.push({ ...members, kid: key.kid, alg: key.alg, use: 'sig' });
  }
  return { keys };
}

/** Longest time a client may cache the JWK Set: a key staged now is published within this. */
export const JWKS_MAX_AGE_CAP_S = 300;

/**
 * Cache-Control max-age of the JWK Set: min(300 s, the server's own refresh interval: KEYSET_TTL on an edge,
 * KEYSET_CACHE_TTL on the control plane), whole seconds, so no client cache outlives a refresh.
 */
export function jwksMaxAgeS(refreshMs: number): number {
  return Math.min(JWKS_MAX_AGE_CAP_S, Math.floor(refreshMs / 1000));
}

export interface JwksBody {
  body: string;
  /** Strong ETag, quoted: base64url SHA-256 of the body. */
  etag: string;
}

/**
 * The served JWK Set and its ETag. The body changes only when the keyset does or one of its previous keys
 * expires; the last body's ETag is kept so that an unchanged body is hashed once.
 */
export class JwksCache {
  #last: JwksBody | undefined;

  async of(keyset: Keyset, now: Date): Promise<JwksBody> {
    const body = JSON.stringify(jwks(keyset, now));
    if (this.#last?.body === body) return this.#last;
    const digest = await crypto.subtle.digest('SHA-256', utf8(body) as Uint8Array<ArrayBuffer>);
    const next = { body, etag: `"${encodeBase64url(new Uint8Array(digest))}"` };
    this.#last = next;
    return next;
  }
}

/**
 * True when If-None-Match names `etag` (or is `*`). RFC 9110 compares If-None-Match weakly: `W/"x"` matches
 * `"x"`.
 */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  for (const raw of header.split(',')) {
    const tag = raw.trim();
    if (tag === '*') return true;
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === etag) return true;
  }
  return false;
}
