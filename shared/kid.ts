import { calculateJwkThumbprint } from 'jose';
import { encodeBase64url, utf8 } from './base64url.ts';

/** RFC 7638 thumbprint (SHA-256) of the symmetric JWK `{"k": k, "kty": "oct"}`: what a key's kid must be. */
export function octThumbprint(k: string): Promise<string> {
  return calculateJwkThumbprint({ kty: 'oct', k }, 'sha256');
}

/** The kid of a secret: the thumbprint of its UTF-8 bytes as a symmetric JWK. */
export function computeKid(secret: string): Promise<string> {
  return octThumbprint(encodeBase64url(utf8(secret)));
}

/**
 * computeKid with the runtime's synchronous SHA-256 (node:crypto on the control plane): the same kid, without
 * WebCrypto's thread-pool hop. The JWK's required members in lexicographic order, no whitespace, as RFC 7638 and
 * jose's calculateJwkThumbprint serialize them.
 */
export function computeKidWith(secret: string, sha256: (data: Uint8Array) => Uint8Array): string {
  return encodeBase64url(sha256(utf8(JSON.stringify({ k: encodeBase64url(utf8(secret)), kty: 'oct' }))));
}

/**
 * The kid of an asymmetric key (SPEC section 8): the RFC 7638 thumbprint of its public JWK's required members
 * (EC: crv, kty, x, y; OKP: crv, kty, x). Members beyond those, `d` included, do not enter it.
 */
export function publicThumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): Promise<string> {
  const { kty, crv, x, y } = jwk;
  return calculateJwkThumbprint(y === undefined ? { kty, crv, x } : { kty, crv, x, y }, 'sha256');
}
