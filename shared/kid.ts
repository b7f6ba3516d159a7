import { calculateJwkThumbprint } from 'jose';
import { encodeBase64url, utf8 } from './base64url.ts';

/** The kid of a secret: RFC 7638 thumbprint (SHA-256) of `{"k": base64url(UTF-8 bytes), "kty": "oct"}`. */
export function computeKid(secret: string): Promise<string> {
  return calculateJwkThumbprint({ kty: 'oct', k: encodeBase64url(utf8(secret)) }, 'sha256');
}
