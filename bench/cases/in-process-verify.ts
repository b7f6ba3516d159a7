/**
 * One verify in-process on Node: Keyward against the Node lower bound and other libraries. HS256 against every
 * baseline; EdDSA and ES256 (cases `<name>/eddsa`, `<name>/es256`) against the lower bound for that algorithm
 * and jose, all in the same interleaved rounds.
 */
import { createVerifier } from 'fast-jwt';
import { importJWK, type JWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { encodeBase64url } from '../../shared/base64url.ts';
import { prepareKeyRing } from '../../shared/key-ring.ts';
import type { KeyEntry, Keyset } from '../../shared/keyset.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { VerifiedTokenCache } from '../../shared/verified-token-cache.ts';
import { publicJwk, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';
import type { Summary } from '../../test/support/stats.ts';
import { ASYMMETRIC_ALGS, type AsymmetricAlg, type BenchFixture } from '../support/fixture.ts';
import {
  type CaseTiming,
  ratiosOf,
  type TimedCase,
  type TimingOptions,
  timeCases,
} from '../support/interleaved-timing.ts';
import { createRawNodeVerifier, rawSpecsOf } from '../support/raw-node-verify.ts';

export interface InProcessVerify {
  timing: TimingOptions;
  cases: CaseTiming[];
  /** Per-round ratios, `subject / baseline`, keyed by that text. */
  ratios: Record<string, Summary>;
}

export const VERIFY_OPTIONS: VerifyOptions = {
  algorithms: ['HS256', 'ES256', 'EdDSA'],
  clockToleranceMs: 30_000,
  maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
  now: Date.now,
};

const valid = (result: unknown) => (result as { valid?: boolean }).valid === true;
const invalid = (result: unknown) => (result as { valid?: boolean }).valid === false;
const hasSub = (result: unknown) => typeof (result as { sub?: unknown }).sub === 'string';
const joseOk = (result: unknown) => hasSub((result as { payload: unknown }).payload);

/** Times every case in interleaved rounds and derives Keyward's ratios to the baselines. */
export async function measureInProcessVerify(
  fixture: BenchFixture,
  timing: TimingOptions,
): Promise<InProcessVerify> {
  const { tokens, active } = fixture;
  const nodeRing = await prepareKeyRing(fixture.keyset, nodeVerify);
  const webRing = await prepareKeyRing(fixture.keyset, webCryptoVerify);
  const raw = createRawNodeVerifier([...fixture.secrets].reverse());
  const secretBytes = new TextEncoder().encode(active.secret);
  const cryptoKey = await importJWK({ kty: 'oct', k: encodeBase64url(secretBytes) }, 'HS256');
  const fastJwt = createVerifier({ key: active.secret, algorithms: ['HS256'] });
  const jose = { algorithms: ['HS256'] };
  // The edge's default: every request after the first for a token is a hit.
  const cache = new VerifiedTokenCache(VERIFY_OPTIONS, { maxEntries: 10_000 });

  const cases: TimedCase[] = [
    { name: 'node-lower-bound', async: false, run: () => raw(tokens.withKid), check: valid },
    {
      name: 'keyward-node',
      async: false,
      run: () => verifyToken(tokens.withKid, nodeRing, VERIFY_OPTIONS),
      check: valid,
    },
    {
      name: 'keyward-webcrypto',
      async: true,
      run: () => verifyToken(tokens.withKid, webRing, VERIFY_OPTIONS),
      check: valid,
    },
    {
      name: 'jose-cryptokey',
      async: true,
      run: () => jwtVerify(tokens.withKid, cryptoKey, jose),
      check: joseOk,
    },
    {
      name: 'jose-raw-bytes',
      async: true,
      run: () => jwtVerify(tokens.withKid, secretBytes, jose),
      check: joseOk,
    },
    { name: 'fast-jwt', async: false, run: () => fastJwt(tokens.withKid), check: hasSub },
    {
      name: 'jsonwebtoken',
      async: false,
      run: () => jsonwebtoken.verify(tokens.withKid, active.secret, { algorithms: ['HS256'] }),
      check: hasSub,
    },
    {
      name: 'node-lower-bound/no-kid-4-keys',
      async: false,
      run: () => raw(tokens.noKidOldest),
      check: valid,
    },
    {
      name: 'keyward-node/no-kid-4-keys',
      async: false,
      run: () => verifyToken(tokens.noKidOldest, nodeRing, VERIFY_OPTIONS),
      check: valid,
    },
    {
      name: 'keyward-webcrypto/no-kid-4-keys',
      async: true,
      run: () => verifyToken(tokens.noKidOldest, webRing, VERIFY_OPTIONS),
      check: valid,
    },
    {
      name: 'node-lower-bound/bad-signature',
      async: false,
      run: () => raw(tokens.badSignature),
      check: invalid,
    },
    {
      name: 'keyward-node/bad-signature',
      async: false,
      run: () => verifyToken(tokens.badSignature, nodeRing, VERIFY_OPTIONS),
      check: invalid,
    },
    {
      name: 'keyward-node/cache-hit',
      async: false,
      run: () => cache.verify(tokens.withKid, nodeRing),
      check: valid,
    },
    ...(await asymmetricCases(fixture)),
  ];
  const timings = await timeCases(cases, timing);
  const ratios = ratiosOf(timings, [
    ['keyward-node', 'node-lower-bound'],
    ['keyward-node', 'fast-jwt'],
    ['keyward-node', 'jose-cryptokey'],
    ['keyward-node', 'jsonwebtoken'],
    ['keyward-webcrypto', 'node-lower-bound'],
    ['keyward-webcrypto', 'keyward-node'],
    ['keyward-node/no-kid-4-keys', 'node-lower-bound/no-kid-4-keys'],
    ['keyward-node/bad-signature', 'node-lower-bound/bad-signature'],
    ['keyward-node/cache-hit', 'node-lower-bound'],
    ...ASYMMETRIC_ALGS.flatMap((alg) => asymmetricRatioPairs(alg)),
  ]);
  return { timing, cases: timings, ratios };
}

const keyOf = (keyset: Keyset, alg: AsymmetricAlg) => keyset.keys.find((key) => key.alg === alg) as KeyEntry;

/** The case-name suffix of an algorithm: `eddsa`, `es256`. */
const algSuffix = (alg: AsymmetricAlg) => alg.toLowerCase();

/** Keyward's ratios for one asymmetric algorithm, the pairs the targets read. */
function asymmetricRatioPairs(alg: AsymmetricAlg): [string, string][] {
  const s = algSuffix(alg);
  return [
    [`keyward-node/${s}`, `node-lower-bound/${s}`],
    [`keyward-node/${s}`, `jose-cryptokey/${s}`],
    [`keyward-webcrypto/${s}`, `node-lower-bound/${s}`],
    [`keyward-node/${s}/bad-signature`, `node-lower-bound/${s}/bad-signature`],
  ];
}

/**
 * Per asymmetric algorithm: the lower bound (one crypto.verify on a KeyObject plus the parsing by hand),
 * Keyward with nodeVerify (the Node entry's primitive) and with webCryptoVerify, jose with an imported key, and
 * a bad signature through the lower bound and Keyward.
 */
async function asymmetricCases(fixture: BenchFixture): Promise<TimedCase[]> {
  const { keyset, tokens, badSignature } = fixture.asymmetric;
  const nodeRing = await prepareKeyRing(keyset, nodeVerify);
  const webRing = await prepareKeyRing(keyset, webCryptoVerify);
  const raw = createRawNodeVerifier(rawSpecsOf(keyset.keys));
  const cases: TimedCase[] = [];
  for (const alg of ASYMMETRIC_ALGS) {
    const s = algSuffix(alg);
    const token = tokens[alg];
    const bad = badSignature[alg];
    const joseKey = await importJWK(publicJwk(keyOf(keyset, alg)) as JWK, alg);
    const joseOptions = { algorithms: [alg] };
    cases.push(
      { name: `node-lower-bound/${s}`, async: false, run: () => raw(token), check: valid },
      {
        name: `keyward-node/${s}`,
        async: false,
        run: () => verifyToken(token, nodeRing, VERIFY_OPTIONS),
        check: valid,
      },
      {
        name: `keyward-webcrypto/${s}`,
        async: true,
        run: () => verifyToken(token, webRing, VERIFY_OPTIONS),
        check: valid,
      },
      {
        name: `jose-cryptokey/${s}`,
        async: true,
        run: () => jwtVerify(token, joseKey, joseOptions),
        check: joseOk,
      },
      { name: `node-lower-bound/${s}/bad-signature`, async: false, run: () => raw(bad), check: invalid },
      {
        name: `keyward-node/${s}/bad-signature`,
        async: false,
        run: () => verifyToken(bad, nodeRing, VERIFY_OPTIONS),
        check: invalid,
      },
    );
  }
  return cases;
}
