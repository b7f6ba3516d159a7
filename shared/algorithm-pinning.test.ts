/**
 * Algorithm pinning (RFC 8725 section 3.1, SPEC section 8) from the attacker's side: every token header `alg`
 * against every kind of key its kid names (and no kid), the classic key-confusion forgeries (HS256 HMAC'd with
 * the public key in every byte form), malformed and malleable signatures, key-choosing headers, and the key
 * lifecycle (standby verifies, an expired previous key does not). Every verdict is asked of both primitives
 * (node:crypto and WebCrypto) and of the independent reference verifier, and all three must agree.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  highS,
  isHighS,
  nonCanonicalEd25519S,
  publicKeyForms,
  signAsym,
  signatureOf,
} from '../test/support/asymmetric-by-hand.ts';
import { type ConfusionRings, confusionRings, verdict } from '../test/support/confusion-rings.ts';
import { b64json, signHs } from '../test/support/jose-by-hand.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../test/support/key-pairs.ts';
import { referenceKid } from '../test/support/reference-jwt-verifier.ts';
import { generateKeyPair } from './generate-key-pair.ts';
import type { NewKeyPair } from './keyset.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const SECRET = 'pinning-hs256-secret-0123456789abcdefghij';
const HS_KID = referenceKid(SECRET);
const CLAIMS = { sub: 'alice', exp: NOW / 1000 + 3600 };

const HEADER_ALGS = [
  'HS256',
  'ES256',
  'EdDSA',
  'HS384',
  'HS512',
  'RS256',
  'PS256',
  'none',
  'ES256K',
  'Ed25519',
] as const;
type KeyKind = 'HS256' | 'ES256' | 'EdDSA';
const KEY_KINDS: readonly KeyKind[] = ['HS256', 'ES256', 'EdDSA'];
const KID: Record<KeyKind, string> = { HS256: HS_KID, ES256: ES256_PAIR.kid, EdDSA: EDDSA_PAIR.kid };
const PAIR = { ES256: ES256_PAIR, EdDSA: EDDSA_PAIR } as const;

const hmac = (key: Uint8Array | string, hash: string, input: string) =>
  createHmac(hash, key).update(input).digest('base64url');

/** A token with header alg `alg` (kid of `target`, or none), signed as well as an attacker holding it can. */
function forge(alg: string, target: KeyKind | null): string {
  const header: Record<string, unknown> = { alg, typ: 'JWT' };
  if (target !== null) header.kid = KID[target];
  const input = `${b64json(header)}.${b64json(CLAIMS)}`;
  // The HMAC secret: the real one for an HS256 key or no kid, else the named key's public x (key confusion).
  const hmacKey = target === null || target === 'HS256' ? SECRET : Buffer.from(PAIR[target].x, 'base64url');
  switch (alg) {
    case 'HS256':
      return `${input}.${hmac(hmacKey, 'sha256', input)}`;
    case 'HS384':
      return `${input}.${hmac(hmacKey, 'sha384', input)}`;
    case 'HS512':
      return `${input}.${hmac(hmacKey, 'sha512', input)}`;
    case 'ES256':
    case 'ES256K':
      return `${input}.${signatureOf(ES256_PAIR, input).toString('base64url')}`;
    case 'EdDSA':
    case 'Ed25519':
      return `${input}.${signatureOf(EDDSA_PAIR, input).toString('base64url')}`;
    case 'RS256':
    case 'PS256':
      return `${input}.${Buffer.alloc(256, 7).toString('base64url')}`;
    default:
      return `${input}.`;
  }
}

/** The SPEC's answer for a cell of the matrix. */
function expected(alg: string, target: KeyKind | null): { valid: true; kid: string } | { error: string } {
  if (!(KEY_KINDS as readonly string[]).includes(alg)) return { error: 'algorithm_not_allowed' };
  if (target === null) return { valid: true, kid: KID[alg as KeyKind] };
  return alg === target ? { valid: true, kid: KID[target] } : { error: 'algorithm_not_allowed' };
}

type Statuses = Record<KeyKind, 'active' | 'standby' | 'previous'>;
/** Each kind of key in each status once: the verdict must never depend on which one is active. */
const STATUS_MIXES: readonly Statuses[] = [
  { HS256: 'active', ES256: 'previous', EdDSA: 'standby' },
  { HS256: 'standby', ES256: 'active', EdDSA: 'previous' },
  { HS256: 'previous', ES256: 'standby', EdDSA: 'active' },
];

async function ringsFor(statuses: Statuses): Promise<ConfusionRings> {
  const order = [...KEY_KINDS].sort((a, b) =>
    statuses[a] === 'active' ? -1 : statuses[b] === 'active' ? 1 : 0,
  );
  const keyset = await buildMixedKeyset(
    7,
    order.map((kind) => ({ key: kind === 'HS256' ? SECRET : PAIR[kind], status: statuses[kind] })),
  );
  return confusionRings(edgeView(keyset));
}

let mixed: ConfusionRings;
/** EdDSA active, ES256 previous: no HS256 key at all. */
let publicOnly: ConfusionRings;

beforeAll(async () => {
  mixed = await ringsFor(STATUS_MIXES[0] as Statuses);
  publicOnly = await confusionRings(
    edgeView(await buildMixedKeyset(3, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'previous' }])),
  );
});

const at = { now: NOW };

describe('the algorithm confusion matrix: header alg x the key its kid names', () => {
  for (const statuses of STATUS_MIXES) {
    const label = Object.entries(statuses)
      .map(([kind, status]) => `${kind} ${status}`)
      .join(', ');
    it(`only the matching pair verifies (${label}), the same with both primitives and the reference`, async () => {
      const setup = await ringsFor(statuses);
      const cells: string[] = [];
      for (const alg of HEADER_ALGS) {
        for (const target of [...KEY_KINDS, null]) {
          const answer = await verdict(forge(alg, target), setup, at);
          const want = expected(alg, target);
          const got = answer.valid ? { valid: true, kid: answer.kid } : { error: answer.error };
          cells.push(`${alg} -> ${target ?? 'no kid'}: ${JSON.stringify(got)}`);
          expect(got, `${alg} -> ${target ?? 'no kid'}`).toEqual(want);
        }
      }
      expect(cells).toHaveLength(HEADER_ALGS.length * 4);
      expect(cells.filter((cell) => cell.includes('"valid":true'))).toHaveLength(6);
    });
  }

  it('a key of an algorithm left out of JWT_ALGORITHMS verifies nothing, its own tokens included', async () => {
    for (const kind of KEY_KINDS) {
      const others = KEY_KINDS.filter((alg) => alg !== kind);
      const setup = await confusionRings(mixed.keyset, others);
      for (const target of [kind, null] as const) {
        expect(await verdict(forge(kind, target), setup, { now: NOW, algorithms: others })).toEqual({
          valid: false,
          error: 'algorithm_not_allowed',
        });
      }
      // Imported but not configured: the same answer.
      expect(await verdict(forge(kind, kind), mixed, { now: NOW, algorithms: others })).toEqual({
        valid: false,
        error: 'algorithm_not_allowed',
      });
    }
  });
  // SPEC section 8: "a token whose header alg differs from the alg of the key its kid names fails with
  // algorithm_not_allowed", also when JWT_ALGORITHMS leaves that key's algorithm out (the key is not imported).
  it('a kid naming a key whose algorithm JWT_ALGORITHMS leaves out: algorithm_not_allowed', async () => {
    const setup = await confusionRings(mixed.keyset, ['HS256']);
    const input = `${b64json({ alg: 'HS256', kid: EDDSA_PAIR.kid })}.${b64json(CLAIMS)}`;
    const token = `${input}.${hmac(Buffer.from(EDDSA_PAIR.x, 'base64url'), 'sha256', input)}`;
    const answer = await verdict(token, setup, { now: NOW, algorithms: ['HS256'] });
    expect(answer).toEqual({ valid: false, error: 'algorithm_not_allowed' });
  });
});

// SPEC sections 6 and 8: algorithm_not_allowed is for an algorithm JWT_ALGORITHMS leaves out, `none`, or a kid
// naming a key of another algorithm. Holding no key of an allowed algorithm is no such case: a kid the keyset
// lacks is key_unknown (the edge then pulls for it), and a token without kid has no key to match.
describe('an allowed algorithm the keyset holds no key of', () => {
  it('a genuine ES256 or EdDSA token on an HS256-only keyset: key_unknown with its kid, signature_invalid without', async () => {
    const hsOnly = await confusionRings(edgeView(await buildMixedKeyset(4, [{ key: SECRET }])));
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      expect(await verdict(signAsym(pair, { alg: pair.alg, kid: pair.kid }, CLAIMS), hsOnly, at)).toEqual({
        valid: false,
        error: 'key_unknown',
      });
      expect(await verdict(signAsym(pair, { alg: pair.alg }, CLAIMS), hsOnly, at)).toEqual({
        valid: false,
        error: 'signature_invalid',
      });
      // Left out of JWT_ALGORITHMS, the same tokens are refused for their algorithm before any kid is looked up.
      for (const kid of [pair.kid, undefined]) {
        expect(
          await verdict(signAsym(pair, { alg: pair.alg, kid }, CLAIMS), hsOnly, {
            now: NOW,
            algorithms: ['HS256'],
          }),
        ).toEqual({ valid: false, error: 'algorithm_not_allowed' });
      }
    }
  });

  it('an HS256 token on a public-only keyset: key_unknown with a kid it lacks, algorithm_not_allowed with an asymmetric kid', async () => {
    const token = (kid?: string) => {
      const input = `${b64json({ alg: 'HS256', kid })}.${b64json(CLAIMS)}`;
      return `${input}.${hmac(SECRET, 'sha256', input)}`;
    };
    expect(await verdict(token(HS_KID), publicOnly, at)).toEqual({ valid: false, error: 'key_unknown' });
    expect(await verdict(token(), publicOnly, at)).toEqual({ valid: false, error: 'signature_invalid' });
    expect(await verdict(token(EDDSA_PAIR.kid), publicOnly, at)).toEqual({
      valid: false,
      error: 'algorithm_not_allowed',
    });
  });
});

describe('HS256 forged with the public key as the HMAC secret', () => {
  for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
    it(`is refused for every byte form of the ${pair.alg} public key, with its kid and without kid`, async () => {
      const forms = publicKeyForms(pair);
      expect(Object.keys(forms).length).toBeGreaterThanOrEqual(pair.alg === 'ES256' ? 10 : 8);
      for (const [form, secret] of Object.entries(forms)) {
        const withKid = { alg: 'HS256', kid: pair.kid, typ: 'JWT' };
        const input = `${b64json(withKid)}.${b64json(CLAIMS)}`;
        const token = `${input}.${hmac(secret, 'sha256', input)}`;
        expect(await verdict(token, mixed, at), `${form}, kid`).toEqual({
          valid: false,
          error: 'algorithm_not_allowed',
        });
        expect(await verdict(token, publicOnly, at), `${form}, kid, no HS256 key held`).toEqual({
          valid: false,
          error: 'algorithm_not_allowed',
        });
        const bare = `${b64json({ alg: 'HS256' })}.${b64json(CLAIMS)}`;
        const noKid = `${bare}.${hmac(secret, 'sha256', bare)}`;
        // Tried against HS256 keys only: the forger does not hold the secret. With none held, no key matches.
        expect(await verdict(noKid, mixed, at), `${form}, no kid`).toEqual({
          valid: false,
          error: 'signature_invalid',
        });
        expect(await verdict(noKid, publicOnly, at), `${form}, no kid, no HS256 key held`).toEqual({
          valid: false,
          error: 'signature_invalid',
        });
      }
    });
  }

  it('is refused even when the HS256 kid is named and the signature is a valid HMAC under the public key', async () => {
    const input = `${b64json({ alg: 'HS256', kid: HS_KID })}.${b64json(CLAIMS)}`;
    const token = `${input}.${hmac(Buffer.from(ES256_PAIR.x, 'base64url'), 'sha256', input)}`;
    expect(await verdict(token, mixed, at)).toEqual({ valid: false, error: 'signature_invalid' });
  });
});

describe('ES256 and EdDSA signatures in the wrong form', () => {
  const header = { alg: 'ES256', kid: ES256_PAIR.kid };

  it('refuses an ES256 signature in DER (what node:crypto and OpenSSL emit by default): token_malformed', async () => {
    const input = `${b64json(header)}.${b64json(CLAIMS)}`;
    const der = signatureOf(ES256_PAIR, input, true);
    expect(der[0]).toBe(0x30);
    expect(der.length).not.toBe(64);
    const token = `${input}.${der.toString('base64url')}`;
    expect(await verdict(token, mixed, at)).toEqual({ valid: false, error: 'token_malformed' });
    const bare = `${b64json({ alg: 'ES256' })}.${b64json(CLAIMS)}`;
    const noKid = `${bare}.${signatureOf(ES256_PAIR, bare, true).toString('base64url')}`;
    expect(await verdict(noKid, mixed, at)).toEqual({ valid: false, error: 'token_malformed' });
  });

  for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
    it(`refuses a ${pair.alg} signature of 63 or 65 bytes, or none, as token_malformed`, async () => {
      const h = { alg: pair.alg, kid: pair.kid };
      const shapes: Record<string, (s: Buffer) => Uint8Array> = {
        '63 bytes (last dropped)': (s) => s.subarray(0, 63),
        '63 bytes (first dropped)': (s) => s.subarray(1),
        '65 bytes (zero prepended)': (s) => Buffer.concat([Buffer.from([0]), s]),
        '65 bytes (zero appended)': (s) => Buffer.concat([s, Buffer.from([0])]),
        '32 bytes (an HMAC-SHA256 length)': (s) => s.subarray(0, 32),
        '128 bytes (doubled)': (s) => Buffer.concat([s, s]),
        empty: () => new Uint8Array(),
      };
      for (const [name, shape] of Object.entries(shapes)) {
        expect(await verdict(signAsym(pair, h, CLAIMS, shape), mixed, at), name).toEqual({
          valid: false,
          error: 'token_malformed',
        });
      }
      expect(await verdict(signAsym(pair, h, CLAIMS), mixed, at)).toMatchObject({
        valid: true,
        kid: pair.kid,
      });
    });
  }

  it('accepts both S forms of an ES256 signature (r, s) and (r, n - s), with both primitives alike', async () => {
    // ECDSA signatures are malleable: JWS (RFC 7518 3.4) does not require low S, and both WebCrypto and
    // node:crypto (OpenSSL) accept either form. A token's bytes therefore do not identify it: revocation goes by
    // jti and sub, never by the token's hash.
    for (let i = 0; i < 4; i++) {
      const claims = { ...CLAIMS, jti: `high-s-${i}` };
      const original = signAsym(ES256_PAIR, header, claims);
      const s = (token: string) => Buffer.from(token.split('.')[2] as string, 'base64url');
      // ECDSA signs with a fresh nonce: the twin is derived from this very signature, not signed again.
      const twin = `${original.slice(0, original.lastIndexOf('.'))}.${highS(s(original)).toString('base64url')}`;
      // One of the two is the high-S form, whichever form the signer produced.
      expect(isHighS(s(twin))).toBe(!isHighS(s(original)));
      for (const token of [original, twin]) {
        expect(await verdict(token, mixed, at)).toMatchObject({ valid: true, kid: ES256_PAIR.kid });
      }
    }
  });

  it('refuses an EdDSA signature whose S is not reduced mod L (RFC 8032 5.1.7): signature_invalid', async () => {
    const h = { alg: 'EdDSA', kid: EDDSA_PAIR.kid };
    expect(await verdict(signAsym(EDDSA_PAIR, h, CLAIMS), mixed, at)).toMatchObject({ valid: true });
    const token = signAsym(EDDSA_PAIR, h, CLAIMS, nonCanonicalEd25519S);
    expect(await verdict(token, mixed, at)).toEqual({ valid: false, error: 'signature_invalid' });
    const bare = signAsym(EDDSA_PAIR, { alg: 'EdDSA' }, CLAIMS, nonCanonicalEd25519S);
    expect(await verdict(bare, mixed, at)).toEqual({ valid: false, error: 'signature_invalid' });
  });

  it('refuses a signature by a key the keyset does not hold, under a held kid or none: signature_invalid', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const stranger = await generateKeyPair(alg);
      const own = PAIR[alg];
      expect(await verdict(signAsym(stranger, { alg, kid: own.kid }, CLAIMS), mixed, at)).toEqual({
        valid: false,
        error: 'signature_invalid',
      });
      expect(await verdict(signAsym(stranger, { alg }, CLAIMS), mixed, at)).toEqual({
        valid: false,
        error: 'signature_invalid',
      });
      expect(await verdict(signAsym(stranger, { alg, kid: stranger.kid }, CLAIMS), mixed, at)).toEqual({
        valid: false,
        error: 'key_unknown',
      });
    }
  });
});

describe('headers that would let the token choose its key', () => {
  it('refuses a jwk, jku, x5u or x5c header carrying the attacker key, signed by that key: token_malformed', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const attacker: NewKeyPair = await generateKeyPair(alg);
      const { d: _d, kid, alg: _alg, ...jwk } = attacker;
      const choices: Record<string, unknown> = {
        jwk,
        jku: 'https://attacker.example/jwks.json',
        x5u: 'https://attacker.example/cert.pem',
        x5c: ['MIIB'],
      };
      for (const [name, value] of Object.entries(choices)) {
        for (const withKid of [kid, PAIR[alg].kid, undefined]) {
          const token = signAsym(attacker, { alg, kid: withKid, [name]: value }, CLAIMS);
          expect(await verdict(token, mixed, at), `${alg} ${name} kid ${withKid}`).toEqual({
            valid: false,
            error: 'token_malformed',
          });
        }
      }
      // And the real key with an embedded jwk of its own public key is refused all the same.
      const own = PAIR[alg];
      const { d: _od, kid: ownKid, alg: _oa, ...ownJwk } = own;
      expect(await verdict(signAsym(own, { alg, kid: ownKid, jwk: ownJwk }, CLAIMS), mixed, at)).toEqual({
        valid: false,
        error: 'token_malformed',
      });
    }
  });

  it('refuses an HS256 token whose jwk header carries an oct key the attacker chose: token_malformed', async () => {
    const k = Buffer.from('attacker-chosen-hmac-key-0123456789').toString('base64url');
    const token = signHs(
      'attacker-chosen-hmac-key-0123456789',
      { alg: 'HS256', jwk: { kty: 'oct', k } },
      CLAIMS,
    );
    expect(await verdict(token, mixed, at)).toEqual({ valid: false, error: 'token_malformed' });
  });
});

describe('the key lifecycle seen by a token', () => {
  it('a standby key verifies; a previous key verifies until expires_at and never after', async () => {
    const expiresAt = new Date(NOW + 60_000);
    const keyset = edgeView(
      await buildMixedKeyset(5, [
        { key: SECRET },
        { key: ES256_PAIR, status: 'standby' },
        { key: EDDSA_PAIR, status: 'previous', expiresAt },
      ]),
    );
    const setup = await confusionRings(keyset);
    const es = signAsym(ES256_PAIR, { alg: 'ES256', kid: ES256_PAIR.kid }, CLAIMS);
    const esNoKid = signAsym(ES256_PAIR, { alg: 'ES256' }, CLAIMS);
    for (const now of [NOW, expiresAt.getTime() + 1]) {
      expect(await verdict(es, setup, { now })).toMatchObject({ valid: true, kid: ES256_PAIR.kid });
      expect(await verdict(esNoKid, setup, { now })).toMatchObject({ valid: true, kid: ES256_PAIR.kid });
    }
    const ed = signAsym(EDDSA_PAIR, { alg: 'EdDSA', kid: EDDSA_PAIR.kid }, CLAIMS);
    const edNoKid = signAsym(EDDSA_PAIR, { alg: 'EdDSA' }, CLAIMS);
    for (const now of [NOW, expiresAt.getTime() - 1]) {
      expect(await verdict(ed, setup, { now })).toMatchObject({ valid: true, kid: EDDSA_PAIR.kid });
      expect(await verdict(edNoKid, setup, { now })).toMatchObject({ valid: true, kid: EDDSA_PAIR.kid });
    }
    for (const now of [expiresAt.getTime(), expiresAt.getTime() + 3_600_000]) {
      expect(await verdict(ed, setup, { now })).toEqual({ valid: false, error: 'key_unknown' });
      expect(await verdict(edNoKid, setup, { now })).toEqual({ valid: false, error: 'signature_invalid' });
    }
  });

  it('a ring built from a keyset that still carries d verifies the same (d is never used to verify)', async () => {
    const withD = await buildMixedKeyset(2, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'standby' }]);
    expect(withD.keys.every((key) => key.alg !== 'HS256' && key.d !== undefined)).toBe(true);
    const setup = await confusionRings(withD);
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      expect(await verdict(signAsym(pair, { alg: pair.alg }, CLAIMS), setup, at)).toMatchObject({
        valid: true,
        kid: pair.kid,
      });
    }
  });

  it('an RSA-signed RS256 token under any held kid is refused before any key is used', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const kid of [HS_KID, ES256_PAIR.kid, EDDSA_PAIR.kid, undefined]) {
      const input = `${b64json({ alg: 'RS256', kid })}.${b64json(CLAIMS)}`;
      const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
      expect(await verdict(token, mixed, at)).toEqual({ valid: false, error: 'algorithm_not_allowed' });
    }
  });
});
