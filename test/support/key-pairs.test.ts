import { calculateJwkThumbprint, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { EDDSA_PAIR, ES256_PAIR } from './key-pairs.ts';

describe('test key pairs', () => {
  it.each([ES256_PAIR, EDDSA_PAIR])(
    '$alg: kid is the thumbprint and the private JWK imports',
    async (pair) => {
      const { kty, crv, x } = pair;
      const publicJwk = pair.alg === 'ES256' ? { kty, crv, x, y: pair.y } : { kty, crv, x };
      expect(pair.kid).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
      await expect(importJWK({ ...pair }, pair.alg)).resolves.toBeDefined();
    },
  );
});
