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
