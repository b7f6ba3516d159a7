/** The synchronous node:crypto HMAC primitive with KeyObjects: no thread-pool hop, keys imported once. */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { HmacPrimitive, JwsHmacAlg } from '../hmac.ts';

const HASH: Record<JwsHmacAlg, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

interface NodeHmacKey {
  key: KeyObject;
  hash: string;
}

export const nodeHmac: HmacPrimitive<NodeHmacKey> = {
  name: 'node:crypto',
  importKey(raw, alg) {
    return { key: createSecretKey(raw), hash: HASH[alg] };
  },
  verify({ key, hash }, signingInput, signature) {
    const expected = createHmac(hash, key).update(signingInput).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  },
};
