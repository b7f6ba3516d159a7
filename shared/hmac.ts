/**
 * The one primitive the verify path needs, injected by the runtime entry: WebCrypto everywhere by default,
 * synchronous node:crypto with KeyObjects on Node (see shared/runtime/node-hmac.ts), where WebCrypto
 * pays a thread-pool hop per call.
 */
import { utf8 } from './base64url.ts';

export type JwsHmacAlg = 'HS256' | 'HS384' | 'HS512';

export interface HmacPrimitive<K = unknown> {
  readonly name: string;
  /** Called once per key and keyset, never per request. */
  importKey(raw: Uint8Array, alg: JwsHmacAlg): Promise<K> | K;
  /** Constant-time check of `signature` over the ASCII `signingInput`. */
  verify(key: K, signingInput: string, signature: Uint8Array): Promise<boolean> | boolean;
}

const HASH: Record<JwsHmacAlg, string> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };

export const webCryptoHmac: HmacPrimitive<CryptoKey> = {
  name: 'webcrypto',
  importKey(raw, alg) {
    return crypto.subtle.importKey('raw', raw as BufferSource, { name: 'HMAC', hash: HASH[alg] }, false, [
      'verify',
    ]);
  },
  verify(key, signingInput, signature) {
    return crypto.subtle.verify('HMAC', key, signature as BufferSource, utf8(signingInput) as BufferSource);
  },
};
