/**
 * GET /.well-known/jwks.json (SPEC section 8): the public JWK of every asymmetric key of the held keyset, so that
 * anyone with a JWKS client can verify tokens the edge verifies. The body, and so its strong ETag, changes only
 * when the keyset does or one of its previous keys expires; the last body's ETag is kept so that an unchanged
 * body is hashed once.
 */
import { encodeBase64url, utf8 } from '../../../shared/base64url.ts';
import { jwks } from '../../../shared/jwks.ts';
import type { KeyRing } from '../../../shared/key-ring.ts';

/** Longest time a client may cache the JWK Set: a key staged now is published within this. */
export const JWKS_MAX_AGE_CAP_S = 300;

/** Cache-Control max-age: min(300 s, KEYSET_TTL), whole seconds, so no cache outlives a pull interval. */
export function jwksMaxAgeS(keysetTtlMs: number): number {
  return Math.min(JWKS_MAX_AGE_CAP_S, Math.floor(keysetTtlMs / 1000));
}

export interface JwksBody {
  body: string;
  /** Strong ETag, quoted: base64url SHA-256 of the body. */
  etag: string;
}

export class JwksCache {
  #last: JwksBody | undefined;

  async of(ring: KeyRing, now: number): Promise<JwksBody> {
    const body = JSON.stringify(jwks(ring.keyset, new Date(now)));
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
