/**
 * The synchronous node:crypto verify primitive with KeyObjects: no thread-pool hop, keys imported once. HMAC
 * compares in constant time; ES256 takes the JWS form of the signature (IEEE P1363, raw r||s), never DER.
 */
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  type JsonWebKey as NodeJsonWebKey,
  timingSafeEqual,
  verify as verifySignature,
} from 'node:crypto';
import { decodeBase64url } from '../base64url.ts';
import { publicJwk, type VerifyPrimitive } from '../verify-primitive.ts';
import { nodeEnvelopeCrypto } from './node-envelope.ts';

type NodeKey =
  | { alg: 'HS256'; key: KeyObject }
  | { alg: 'ES256'; key: { key: KeyObject; dsaEncoding: 'ieee-p1363' } }
  | { alg: 'EdDSA'; key: KeyObject };

export const nodeVerify: VerifyPrimitive<NodeKey> = {
  name: 'node:crypto',
  envelope: nodeEnvelopeCrypto,
  importKey(entry) {
    if (entry.alg === 'HS256') {
      return { alg: 'HS256', key: createSecretKey(decodeBase64url(entry.k) as Uint8Array) };
    }
    const key = createPublicKey({ key: publicJwk(entry) as NodeJsonWebKey, format: 'jwk' });
    if (entry.alg === 'ES256') return { alg: 'ES256', key: { key, dsaEncoding: 'ieee-p1363' } };
    return { alg: 'EdDSA', key };
  },
  verify(imported, signingInput, signature) {
    if (imported.alg === 'HS256') {
      const expected = createHmac('sha256', imported.key).update(signingInput).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    }
    const data = Buffer.from(signingInput, 'latin1');
    if (imported.alg === 'ES256') return verifySignature('sha256', data, imported.key, signature);
    return verifySignature(null, data, imported.key, signature);
  },
};
