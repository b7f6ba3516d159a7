/**
 * The one primitive the verify path needs, injected by the runtime entry: WebCrypto everywhere by default,
 * synchronous node:crypto with KeyObjects on Node (see shared/runtime/node-verify.ts), where WebCrypto pays a
 * thread-pool hop per call. A key is imported for its own algorithm only (RFC 8725 section 3.1): an HS256 key
 * is an HMAC key, an ES256 key an ECDSA P-256 public key, an EdDSA key an Ed25519 public key.
 */
import { decodeBase64url, utf8 } from './base64url.ts';
import type { KeyAlg, KeyEntry } from './keyset.ts';
import type { EnvelopeCrypto } from './keyset-envelope.ts';

export type JwsAlg = KeyAlg;

export interface VerifyPrimitive<K = unknown> {
  readonly name: string;
  /** Called once per key and keyset, never per request; imports public members only. */
  importKey(entry: KeyEntry): Promise<K> | K;
  /**
   * Checks `signature` over the ASCII `signingInput` with the key's own algorithm (HMAC in constant time).
   * ES256 signatures are raw r||s (64 bytes), as JWS has them.
   */
  verify(key: K, signingInput: string, signature: Uint8Array): Promise<boolean> | boolean;
  /** The runtime's synchronous crypto for opening keyset envelopes, when it has one (node:crypto). */
  readonly envelope?: EnvelopeCrypto;
}

/** The public JWK WebCrypto (and node:crypto) import an asymmetric entry from: no `d`, whatever the entry holds. */
export function publicJwk(entry: KeyEntry): JsonWebKey {
  if (entry.alg === 'ES256') return { kty: 'EC', crv: 'P-256', x: entry.x, y: entry.y };
  if (entry.alg === 'EdDSA') return { kty: 'OKP', crv: 'Ed25519', x: entry.x };
  throw new TypeError('an HS256 key has no public JWK');
}

interface WebCryptoKey {
  key: CryptoKey;
  params: AlgorithmIdentifier | EcdsaParams;
}

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' };
const ECDSA_SHA256: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export const webCryptoVerify: VerifyPrimitive<WebCryptoKey> = {
  name: 'webcrypto',
  async importKey(entry) {
    if (entry.alg === 'HS256') {
      const raw = decodeBase64url(entry.k) as Uint8Array<ArrayBuffer>;
      const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [
        'verify',
      ]);
      return { key, params: 'HMAC' };
    }
    if (entry.alg === 'ES256') {
      const key = await crypto.subtle.importKey('jwk', publicJwk(entry), ECDSA_P256, false, ['verify']);
      return checkedOnce({ key, params: ECDSA_SHA256 });
    }
    const key = await crypto.subtle.importKey('jwk', publicJwk(entry), { name: 'Ed25519' }, false, [
      'verify',
    ]);
    return checkedOnce({ key, params: 'Ed25519' });
  },
  verify({ key, params }, signingInput, signature) {
    return crypto.subtle.verify(params, key, signature as BufferSource, utf8(signingInput) as BufferSource);
  },
};

/**
 * Deno imports a P-256 point that is not on the curve and throws only when the key first verifies: one verify at
 * import makes such a key fail here, as importKey fails in every other runtime (keyset_invalid), never on a request.
 */
async function checkedOnce(imported: WebCryptoKey): Promise<WebCryptoKey> {
  await crypto.subtle.verify(imported.params, imported.key, new Uint8Array(64), new Uint8Array(0));
  return imported;
}
