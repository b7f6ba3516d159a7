import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, signWithPair } from '../test/support/key-pairs.ts';
import { generateKeyPair } from './generate-key-pair.ts';
import { jwks } from './jwks.ts';

const NOW = new Date('2026-11-25T12:00:00Z');
const SECRET = 'jwks-test-hs256-secret-0123456789abcdefghij';

describe('jwks', () => {
  it('publishes the public JWK of every standby, active and unexpired previous asymmetric key, never HS256 or d', async () => {
    const expired = await generateKeyPair('EdDSA');
    const keyset = await buildMixedKeyset(9, [
      { key: SECRET },
      { key: ES256_PAIR, status: 'standby' },
      { key: EDDSA_PAIR, status: 'previous', expiresAt: new Date(NOW.getTime() + 1) },
      { key: expired, status: 'previous', expiresAt: NOW },
      { key: `${SECRET}-old`, status: 'previous' },
    ]);
    // The control plane's own copy, d included: jwks never lets it through.
    expect(keyset.keys.filter((key) => key.alg !== 'HS256' && key.d !== undefined)).toHaveLength(3);
    const set = jwks(keyset, NOW);
    expect(set).toEqual({
      keys: [
        {
          kty: 'EC',
          crv: 'P-256',
          x: ES256_PAIR.x,
          y: ES256_PAIR.kty === 'EC' ? ES256_PAIR.y : '',
          kid: ES256_PAIR.kid,
          alg: 'ES256',
          use: 'sig',
        },
        { kty: 'OKP', crv: 'Ed25519', x: EDDSA_PAIR.x, kid: EDDSA_PAIR.kid, alg: 'EdDSA', use: 'sig' },
      ],
    });
    const text = JSON.stringify(set);
    for (const forbidden of ['"d"', '"k"', 'oct', 'HS256', expired.kid, EDDSA_PAIR.d]) {
      expect(text).not.toContain(forbidden);
    }
    // One millisecond later the EdDSA key's grace is over too.
    expect(jwks(keyset, new Date(NOW.getTime() + 1)).keys.map((key) => key.alg)).toEqual(['ES256']);
  });

  it('is empty for an HS256-only keyset', async () => {
    expect(jwks(await buildMixedKeyset(2, [{ key: SECRET }, { key: `${SECRET}-2` }]), NOW)).toEqual({
      keys: [],
    });
  });

  it('is what a third-party JWKS client verifies Keyward-issued tokens with, each key for its own alg only', async () => {
    const keyset = await buildMixedKeyset(3, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'standby' }]);
    const keys = createLocalJWKSet(jwks(keyset, NOW));
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      const token = await signWithPair(pair, { sub: 'third-party' });
      const { protectedHeader } = await jwtVerify(token, keys);
      expect(protectedHeader.kid).toBe(pair.kid);
      // The same signature under the other key's kid: the JWKS entry's alg pins it.
      const other = pair === ES256_PAIR ? EDDSA_PAIR : ES256_PAIR;
      const forged = await signWithPair(pair, { sub: 'third-party' }, { kid: other.kid });
      await expect(jwtVerify(forged, keys)).rejects.toThrow();
    }
  });
});
