/** Section 1 on Node: one HS256 verify in-process, Keyward against the Node lower bound and other libraries. */
import { createVerifier } from 'fast-jwt';
import { importJWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { encodeBase64url } from '../shared/base64url.ts';
import { webCryptoHmac } from '../shared/hmac.ts';
import { prepareKeyRing } from '../shared/key-ring.ts';
import { nodeHmac } from '../shared/runtime/node-hmac.ts';
import { VerifiedTokenCache } from '../shared/verified-token-cache.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../shared/verify-token.ts';
import type { BenchFixture } from './fixtures.ts';
import { createRawNodeVerifier } from './raw-node-verify.ts';
import { type CaseTiming, type TimedCase, type TimingOptions, timeCases } from './timing.ts';

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

export async function benchInProcessNode(
  fixture: BenchFixture,
  timing: TimingOptions,
): Promise<CaseTiming[]> {
  const { tokens, active } = fixture;
  const nodeRing = await prepareKeyRing(fixture.keyset, nodeHmac);
  const webRing = await prepareKeyRing(fixture.keyset, webCryptoHmac);
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
  return timeCases(cases, timing);
}
