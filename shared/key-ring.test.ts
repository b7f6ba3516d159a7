import { describe, expect, it } from 'vitest';
import { signatureOf } from '../test/support/asymmetric-by-hand.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../test/support/key-pairs.ts';
import { KeywardError } from './errors.ts';
import { prepareKeyRing } from './key-ring.ts';
import type { KeyEntry, Keyset } from './keyset.ts';
import { publicThumbprint } from './kid.ts';
import { nodeVerify } from './runtime/node-verify.ts';
import { type VerifyPrimitive, webCryptoVerify } from './verify-primitive.ts';

const PRIMITIVES = [nodeVerify, webCryptoVerify] as VerifyPrimitive[];
const SECRET = 'key-ring-test-secret-0123456789abcdefghij';
const HOUR = 3_600_000;

/** HS256 active, EdDSA standby, then previous keys: ES256 (newer) and an older HS256 key. */
async function mixed(): Promise<Keyset> {
  return edgeView(
    await buildMixedKeyset(8, [
      { key: SECRET },
      { key: EDDSA_PAIR, status: 'standby' },
      { key: ES256_PAIR, status: 'previous', expiresAt: new Date('2100-01-01T00:00:00Z') },
      { key: `${SECRET}-old`, status: 'previous', expiresAt: new Date('2099-01-01T00:00:00Z') },
    ]),
  );
}

/** The little-endian encoding of the smallest y >= 2 that is no Ed25519 point (no x with -x^2 + y^2 = 1 + d x^2 y^2). */
function ed25519NonPoint(): string {
  const p = (1n << 255n) - 19n;
  const pow = (base: bigint, exp: bigint) => {
    let result = 1n;
    let b = base % p;
    for (let e = exp; e > 0n; e >>= 1n, b = (b * b) % p) if (e & 1n) result = (result * b) % p;
    return result;
  };
  const d = (((-121665n * pow(121666n, p - 2n)) % p) + p) % p;
  for (let y = 2n; ; y++) {
    const x2 = ((((y * y - 1n) * pow(d * y * y + 1n, p - 2n)) % p) + p) % p;
    if (x2 !== 0n && pow(x2, (p - 1n) / 2n) === p - 1n) {
      return Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse().toString('base64url');
    }
  }
}

describe('prepareKeyRing with keys of every algorithm', () => {
  for (const primitive of PRIMITIVES) {
    it(`orders keys active, standby, previous newest first, per algorithm too (${primitive.name})`, async () => {
      const keyset = await mixed();
      const ring = await prepareKeyRing(keyset, primitive);
      const kids = keyset.keys.map((key) => key.kid);
      expect(ring.ordered.map((key) => key.kid)).toEqual(kids);
      expect(ring.ordered.map((key) => [key.alg, key.status])).toEqual([
        ['HS256', 'active'],
        ['EdDSA', 'standby'],
        ['ES256', 'previous'],
        ['HS256', 'previous'],
      ]);
      expect([...ring.byAlg.keys()].sort()).toEqual(['ES256', 'EdDSA', 'HS256']);
      expect(ring.byAlg.get('HS256')?.map((key) => key.kid)).toEqual([kids[0], kids[3]]);
      expect(ring.byAlg.get('EdDSA')?.map((key) => key.kid)).toEqual([EDDSA_PAIR.kid]);
      expect(ring.byAlg.get('ES256')?.map((key) => key.kid)).toEqual([ES256_PAIR.kid]);
      expect(ring.byKid.get(EDDSA_PAIR.kid)?.expiresAt).toBe(Number.POSITIVE_INFINITY);
      expect(ring.byKid.get(ES256_PAIR.kid)?.expiresAt).toBe(Date.parse('2100-01-01T00:00:00Z'));
    });

    it(`imports only the configured algorithms; the others are known by kid, unimported (${primitive.name})`, async () => {
      const ring = await prepareKeyRing(await mixed(), primitive, ['ES256']);
      expect(ring.ordered.map((key) => key.kid)).toEqual([ES256_PAIR.kid]);
      expect([...ring.byAlg.keys()]).toEqual(['ES256']);
      expect(ring.byKid.get(EDDSA_PAIR.kid)).toMatchObject({ alg: 'EdDSA', key: undefined });
      const none = await prepareKeyRing(await mixed(), primitive, []);
      expect(none.ordered).toEqual([]);
      expect(none.byAlg.size).toBe(0);
    });

    it(`a key imported for its own algorithm answers false, never throws, for another algorithm's signature (${primitive.name})`, async () => {
      const ring = await prepareKeyRing(await mixed(), primitive);
      const input = 'eyJhbGciOiJIUzI1NiJ9.e30';
      const es = ring.byKid.get(ES256_PAIR.kid)?.key;
      const ed = ring.byKid.get(EDDSA_PAIR.kid)?.key;
      const hs = ring.byAlg.get('HS256')?.[0]?.key;
      const esSignature = signatureOf(ES256_PAIR, input);
      const edSignature = signatureOf(EDDSA_PAIR, input);
      expect(await primitive.verify(es, input, esSignature)).toBe(true);
      expect(await primitive.verify(ed, input, edSignature)).toBe(true);
      // Below verifyToken's own checks: the primitive itself keeps each key to its algorithm.
      for (const [key, signature] of [
        [es, edSignature],
        [ed, esSignature],
        [hs, esSignature],
        [hs, edSignature],
        [es, new Uint8Array(32)],
        [ed, new Uint8Array(32)],
        [es, new Uint8Array(0)],
        [ed, new Uint8Array(0)],
      ] as const) {
        expect(await primitive.verify(key, input, signature)).toBe(false);
      }
    });

    it(`an Ed25519 x that is no curve point imports and verifies nothing, without throwing (${primitive.name})`, async () => {
      const x = ed25519NonPoint();
      const keyset = await mixed();
      const entry = { ...keyset.keys[1], x, kid: await publicThumbprint({ kty: 'OKP', crv: 'Ed25519', x }) };
      const ring = await prepareKeyRing(
        { ...keyset, keys: [keyset.keys[0], entry] as Keyset['keys'] },
        primitive,
      );
      const key = ring.byKid.get(entry.kid)?.key;
      expect(await primitive.verify(key, 'a.b', signatureOf(EDDSA_PAIR, 'a.b'))).toBe(false);
      expect(await primitive.verify(key, 'a.b', new Uint8Array(64))).toBe(false);
    });

    it(`refuses a P-256 key off the curve with keyset_invalid naming its kid and alg (${primitive.name})`, async () => {
      const keyset = await mixed();
      const off = { kty: 'EC' as const, crv: 'P-256' as const, x: ES256_PAIR.x, y: ES256_PAIR.x };
      const entry = { ...keyset.keys[2], ...off, kid: await publicThumbprint(off) };
      const bad = { ...keyset, keys: [keyset.keys[0], entry] as Keyset['keys'] };
      const error = await prepareKeyRing(bad, primitive).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(KeywardError);
      expect((error as KeywardError).code).toBe('keyset_invalid');
      expect((error as KeywardError).message).toBe(
        `keyset invalid: key ${entry.kid} (ES256) does not import`,
      );
      // Left out by JWT_ALGORITHMS, the bad key is never imported and the ring prepares.
      await expect(prepareKeyRing(bad, primitive, ['HS256'])).resolves.toBeDefined();
    });
  }

  it('keeps expiresAt of previous keys as epoch ms, so that verifyToken stops them at that instant', async () => {
    const at = new Date(Date.parse('2026-11-25T12:00:00Z') + HOUR);
    const keyset = edgeView(await buildMixedKeyset(2, [{ key: SECRET }, { key: EDDSA_PAIR, expiresAt: at }]));
    const ring = await prepareKeyRing(keyset, nodeVerify as VerifyPrimitive);
    expect(ring.byKid.get(EDDSA_PAIR.kid)).toMatchObject({ status: 'previous', expiresAt: at.getTime() });
  });
});

describe('prepareKeyRing over the ring it replaces', () => {
  for (const primitive of PRIMITIVES) {
    it(`takes over the keys it imported already, and imports the rest (${primitive.name})`, async () => {
      const keyset = await mixed();
      const imports: string[] = [];
      const counting: VerifyPrimitive = {
        ...primitive,
        importKey: (entry: KeyEntry) => {
          imports.push(entry.kid);
          return primitive.importKey(entry);
        },
      };
      const held = await prepareKeyRing(keyset, counting);
      const [hs256, eddsa, es256, old] = keyset.keys as [KeyEntry, KeyEntry, KeyEntry, KeyEntry];
      const [fresh] = (await buildMixedKeyset(9, [{ key: `${SECRET}-new`, status: 'standby' }])).keys as [
        KeyEntry,
      ];
      // The next keyset: the EdDSA key promoted, the HS256 key in grace, one key gone and a new one standby.
      const next: Keyset = {
        ...keyset,
        version: 9,
        keys: [
          { ...eddsa, status: 'active', expires_at: null },
          { ...hs256, status: 'previous', expires_at: '2101-01-01T00:00:00.000Z' },
          es256,
          fresh,
        ],
      };
      imports.length = 0;
      const ring = await prepareKeyRing(next, counting, undefined, held);
      expect(imports).toEqual([fresh.kid]);
      for (const { kid } of [eddsa, hs256, es256])
        expect(ring.byKid.get(kid)?.key).toBe(held.byKid.get(kid)?.key);
      // Status and expiry are the new keyset's.
      expect(ring.byKid.get(eddsa.kid)?.status).toBe('active');
      expect(ring.byKid.get(hs256.kid)?.expiresAt).toBe(Date.parse('2101-01-01T00:00:00.000Z'));
      expect(ring.byKid.has(old.kid)).toBe(false);

      // A ring imported by another primitive is not taken over: its keys are that primitive's objects.
      imports.length = 0;
      await prepareKeyRing(next, counting, undefined, await prepareKeyRing(keyset, primitive));
      expect(imports).toHaveLength(4);
      // The same kid over other key material (no edge takes such a keyset: a kid is its key's thumbprint).
      imports.length = 0;
      const other = { ...hs256, k: Buffer.from(`${SECRET}-other`).toString('base64url') };
      const swapped = await prepareKeyRing({ ...next, keys: [other] }, counting, undefined, ring);
      expect(imports).toEqual([hs256.kid]);
      expect(swapped.byKid.get(hs256.kid)?.key).not.toBe(ring.byKid.get(hs256.kid)?.key);
    });
  }
});
