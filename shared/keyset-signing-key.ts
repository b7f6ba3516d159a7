/**
 * The Ed25519 key pair that signs keysets (SPEC section 9): KEYSET_SIGNING_KEY is base64url of the 32-byte seed,
 * KEYSET_VERIFY_KEY base64url of the 32-byte public key. WebCrypto only, so every runtime verifies the same way.
 */
import { calculateJwkThumbprint } from 'jose';
import { decodeBase64url, encodeBase64url } from './base64url.ts';
import { KeywardError } from './errors.ts';

/** A signing key ready to sign: the private key and the kid edges look for. */
export interface KeysetSigner {
  kid: string;
  privateKey: CryptoKey;
  /** The public key, raw (32 bytes). */
  publicKey: Uint8Array;
}

/** A public key an edge accepts manifests from, and its kid. */
export interface KeysetVerifier {
  kid: string;
  publicKey: CryptoKey;
  /** The raw 32-byte key, for a runtime's synchronous check (keyset-envelope.ts EnvelopeCrypto). */
  raw?: Uint8Array;
}

// RFC 8410 PKCS#8 wrapping of a 32-byte Ed25519 seed: WebCrypto imports private Ed25519 keys only this way or as
// a JWK that already holds the public key.
const PKCS8_ED25519_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/** Checks KEYSET_SIGNING_KEY's shape (base64url of 32 bytes) and returns the seed. */
export function parseSigningSeed(text: string): Uint8Array {
  const seed = decodeBase64url(text.trim());
  if (seed?.length !== 32) {
    throw new KeywardError(
      'signing_key_invalid',
      'KEYSET_SIGNING_KEY must be base64url of a 32-byte Ed25519 private key (seed)',
    );
  }
  return seed;
}

/**
 * Checks KEYSET_VERIFY_KEY's shape: one public key, or two separated by a comma while a key is being replaced;
 * each base64url of 32 bytes. `name` is the variable the message names.
 */
export function parseVerifyKeys(text: string, name = 'KEYSET_VERIFY_KEY'): Uint8Array[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length > 2) {
    throw new KeywardError(
      'signing_key_invalid',
      `${name} holds at most two keys (old and new, comma-separated)`,
    );
  }
  return parts.map((part) => {
    const key = decodeBase64url(part);
    if (key?.length !== 32) {
      throw new KeywardError(
        'signing_key_invalid',
        `${name} must be base64url of a 32-byte Ed25519 public key`,
      );
    }
    return key;
  });
}

/** The kid of an Ed25519 public key: RFC 7638 thumbprint of the OKP JWK `{crv, kty, x}`. */
export function okpThumbprint(publicKey: Uint8Array): Promise<string> {
  return calculateJwkThumbprint({ crv: 'Ed25519', kty: 'OKP', x: encodeBase64url(publicKey) }, 'sha256');
}

/** Imports a seed as a signer (with its public key and kid). */
export async function importSigner(seed: Uint8Array): Promise<KeysetSigner> {
  const pkcs8 = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
  pkcs8.set(PKCS8_ED25519_PREFIX);
  pkcs8.set(seed, PKCS8_ED25519_PREFIX.length);
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', privateKey);
  const publicKey = decodeBase64url(jwk.x ?? '');
  if (publicKey?.length !== 32)
    throw new KeywardError('signing_key_invalid', 'KEYSET_SIGNING_KEY has no public key');
  return { kid: await okpThumbprint(publicKey), privateKey, publicKey };
}

/** Imports a raw public key as a verifier. */
export async function importVerifier(publicKey: Uint8Array): Promise<KeysetVerifier> {
  const key = await crypto.subtle.importKey('raw', publicKey as BufferSource, { name: 'Ed25519' }, false, [
    'verify',
  ]);
  return { kid: await okpThumbprint(publicKey), publicKey: key };
}

/** A fresh pair as the two variables hold it: KEYSET_SIGNING_KEY (seed) and KEYSET_VERIFY_KEY (public key). */
export async function generateSigningPair(): Promise<{ signingKey: string; verifyKey: string }> {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const signer = await importSigner(seed);
  return { signingKey: encodeBase64url(seed), verifyKey: encodeBase64url(signer.publicKey) };
}
