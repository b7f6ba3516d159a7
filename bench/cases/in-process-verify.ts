/** One HS256 verify in-process on Node: Keyward against the Node lower bound and other libraries. */
import { createVerifier } from 'fast-jwt';
import { importJWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { encodeBase64url } from '../../shared/base64url.ts';
import { prepareKeyRing } from '../../shared/key-ring.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { VerifiedTokenCache } from '../../shared/verified-token-cache.ts';
import { webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';
import type { Summary } from '../../test/support/stats.ts';
import type { BenchFixture } from '../support/fixture.ts';
import {
  type CaseTiming,
  ratiosOf,
  type TimedCase,
  type TimingOptions,
  timeCases,
} from '../support/interleaved-timing.ts';
import { createRawNodeVerifier } from '../support/raw-node-verify.ts';

export interface InProcessVerify {
  timing: TimingOptions;
  cases: CaseTiming[];
  /** Per-round ratios, `subject / baseline`, keyed by that text. */
  ratios: Record<string, Summary>;
}

export const VERIFY_OPTIONS: VerifyOptions = {
  algorithms: ['HS256'],
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
      name: 'keyward-node-hmac',
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
      name: 'keyward-node-hmac/no-kid-4-keys',
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
      name: 'keyward-node-hmac/bad-signature',
      async: false,
      run: () => verifyToken(tokens.badSignature, nodeRing, VERIFY_OPTIONS),
      check: invalid,
    },
    {
      name: 'keyward-node-hmac/cache-hit',
      async: false,
      run: () => cache.verify(tokens.withKid, nodeRing),
      check: valid,
    },
  ];
  const timings = await timeCases(cases, timing);
  const ratios = ratiosOf(timings, [
    ['keyward-node-hmac', 'node-lower-bound'],
    ['keyward-node-hmac', 'fast-jwt'],
    ['keyward-node-hmac', 'jose-cryptokey'],
    ['keyward-node-hmac', 'jsonwebtoken'],
    ['keyward-webcrypto', 'node-lower-bound'],
    ['keyward-webcrypto', 'keyward-node-hmac'],
    ['keyward-node-hmac/no-kid-4-keys', 'node-lower-bound/no-kid-4-keys'],
    ['keyward-node-hmac/bad-signature', 'node-lower-bound/bad-signature'],
    ['keyward-node-hmac/cache-hit', 'node-lower-bound'],
  ]);
  return { timing, cases: timings, ratios };
}
