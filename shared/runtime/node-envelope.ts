/**
 * node:crypto's synchronous AES-256-GCM open, Ed25519 check and SHA-256 for opening keyset envelopes (Node and
 * Bun): what WebCrypto does in three thread-pool hops and a promise per kid, done in one turn. Keys are imported
 * once per key (by the identity of the byte array the opening keys hold). The control plane seals the same way
 * (nodeSealingCrypto).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  KeyObject,
  sign,
  verify,
} from 'node:crypto';
import type { EnvelopeCrypto, SealingCrypto } from '../keyset-envelope.ts';

const publicKeys = new WeakMap<Uint8Array, KeyObject>();
const privateKeys = new WeakMap<CryptoKey, KeyObject>();

export const nodeEnvelopeCrypto: EnvelopeCrypto = {
  decryptA256Gcm(key, iv, ciphertext, tag, aad) {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    try {
      const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.length);
    } catch {
      // final() throws when the tag does not verify: not this key.
      return undefined;
    }
  },
  verifyEd25519(publicKey, signature, data) {
    let key = publicKeys.get(publicKey);
    if (key === undefined) {
      key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
        format: 'jwk',
      });
      publicKeys.set(publicKey, key);
    }
    return verify(null, data, key, signature);
  },
  sha256(data) {
    return createHash('sha256').update(data).digest();
  },
};

export const nodeSealingCrypto: SealingCrypto = {
  encryptA256Gcm(key, iv, plaintext, aad) {
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { ciphertext, tag: cipher.getAuthTag() };
  },
  signEd25519(privateKey, data) {
    // The signer's own key, taken out of its CryptoKey once.
    let key = privateKeys.get(privateKey);
    if (key === undefined) {
      key = KeyObject.from(privateKey);
      privateKeys.set(privateKey, key);
    }
    return sign(null, data, key);
  },
};
