/**
 * Runs under Bun (started by bun-primitives.ts): Keyward's verify with the node:crypto primitive against the
 * same verify with WebCrypto, for HS256, EdDSA and ES256, in interleaved rounds. Reads its setup as JSON on
 * stdin, checks both primitives accept the valid token and refuse the bad signature, prints the timings as JSON.
 */
import { prepareKeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';
import { ratiosOf, type TimedCase, type TimingOptions, timeCases } from '../support/interleaved-timing.ts';

export interface BunPrimitivesSetup {
  timing: TimingOptions;
  /** Per algorithm: a keyset holding its key, a valid token with kid, the same token with a bad signature. */
  algs: { alg: string; keyset: Keyset; token: string; badSignature: string }[];
}

const OPTIONS: VerifyOptions = {
  algorithms: ['HS256', 'ES256', 'EdDSA'],
  clockToleranceMs: 30_000,
  maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
  now: Date.now,
};
const valid = (result: unknown) => (result as { valid?: boolean }).valid === true;

const setup = JSON.parse(await new Response(Bun.stdin.stream()).text()) as BunPrimitivesSetup;
const cases: TimedCase[] = [];
const pairs: [string, string][] = [];
for (const { alg, keyset, token, badSignature } of setup.algs) {
  const x = alg.toLowerCase();
  for (const primitive of [nodeVerify, webCryptoVerify]) {
    const ring = await prepareKeyRing(keyset, primitive);
    const bad = await verifyToken(badSignature, ring, OPTIONS);
    if (bad.valid || bad.error !== 'signature_invalid') {
      throw new Error(`${primitive.name} on Bun: ${alg} bad signature gave ${JSON.stringify(bad)}`);
    }
    cases.push({
      name: `${primitive.name}/${x}`,
      async: primitive === webCryptoVerify,
      run: () => verifyToken(token, ring, OPTIONS),
      check: valid,
    });
  }
  pairs.push([`node:crypto/${x}`, `webcrypto/${x}`]);
}
const timings = await timeCases(cases, setup.timing);
console.log(JSON.stringify({ cases: timings, ratios: ratiosOf(timings, pairs) }));

declare const Bun: { stdin: { stream(): ReadableStream } };
