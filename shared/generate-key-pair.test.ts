import { calculateJwkThumbprint, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { signAsym } from '../test/support/asymmetric-by-hand.ts';
import { confusionRings, verdict } from '../test/support/confusion-rings.ts';
import { buildMixedKeyset, edgeView, signWithPair } from '../test/support/key-pairs.ts';
import { codeOf } from '../test/support/keyward-error-code.ts';
import { referencePublicKid } from '../test/support/reference-jwt-verifier.ts';
import { generateKeyPair, KEY_PAIR_ALGORITHMS } from './generate-key-pair.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const b64Length = (text: string) => Buffer.from(text, 'base64url').length;

describe('generateKeyPair', () => {
  for (const alg of KEY_PAIR_ALGORITHMS) {
    it(`${alg}: a fresh importable pair whose kid is the RFC 7638 thumbprint of its public JWK`, async () => {
      const pair = await generateKeyPair(alg);
      const again = await generateKeyPair(alg);
      expect(again.kid).not.toBe(pair.kid);
      expect(again.d).not.toBe(pair.d);
      expect(pair.alg).toBe(alg);
      expect(b64Length(pair.x)).toBe(32);
      expect(b64Length(pair.d)).toBe(32);
      const publicJwk =
        pair.alg === 'ES256'
          ? { kty: pair.kty, crv: pair.crv, x: pair.x, y: pair.y }
          : { kty: pair.kty, crv: pair.crv, x: pair.x };
      if (pair.alg === 'ES256') {
        expect(pair).toMatchObject({ kty: 'EC', crv: 'P-256' });
        expect(b64Length(pair.y)).toBe(32);
      } else {
        expect(pair).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
        expect('y' in pair).toBe(false);
      }
      expect(pair.kid).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
      expect(pair.kid).toBe(referencePublicKid(publicJwk));
      const { kid: _kid, ...privateJwk } = pair;
      await expect(importJWK(privateJwk, alg)).resolves.toBeDefined();
      await expect(importJWK(publicJwk, alg)).resolves.toBeDefined();
    });

    it(`${alg}: signs tokens (jose and by hand) that both primitives and the reference verify, by kid and without`, async () => {
      const pair = await generateKeyPair(alg);
      const setup = await confusionRings(edgeView(await buildMixedKeyset(2, [{ key: pair }])));
      const claims = { sub: 'generated', exp: NOW / 1000 + 60 };
      const tokens = [
        await signWithPair(pair, claims),
        await signWithPair(pair, claims, { kid: null }),
        signAsym(pair, { alg, kid: pair.kid }, claims),
        signAsym(pair, { alg }, claims),
      ];
      for (const token of tokens) {
        expect(await verdict(token, setup, { now: NOW })).toMatchObject({ valid: true, kid: pair.kid });
      }
      // Another fresh pair's signature under this kid does not verify.
      const other = await generateKeyPair(alg);
      expect(
        await verdict(await signWithPair(other, claims, { kid: pair.kid }), setup, { now: NOW }),
      ).toEqual({
        valid: false,
        error: 'signature_invalid',
      });
    });
  }

  it('refuses any other algorithm: algorithm_unknown', async () => {
    for (const alg of ['HS256', 'RS256', 'Ed25519', 'es256', '']) {
      expect(await codeOf(generateKeyPair(alg as never))).toBe('algorithm_unknown');
    }
  });
});
