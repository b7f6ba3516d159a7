/**
 * Runs under Node, Bun or Deno (started by runtime-verify.ts): one verify in-process, timed in interleaved rounds,
 * per algorithm and kind: the hand-written lower bound with node:crypto (`raw-node`) and with WebCrypto
 * (`raw-web`), and Keyward's verifyToken with either primitive (`keyward-node`, `keyward-web`); for HS256 also
 * both with an HMAC in JavaScript (`raw-js`, `keyward-js`: the Deno entry's HS256 primitive). Reads its setup
 * from the JSON file BENCH_SETUP names; before timing, every kind must accept the token and refuse the bad
 * signature. Prints the timings as one JSON line.
 */
import { readFileSync } from 'node:fs';
import { jsHmacVerify } from '../../edge/src/runtime/js-hmac-verify.ts';
import { prepareKeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { type VerifyPrimitive, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';
import { type TimedCase, type TimingOptions, timeCases } from '../support/interleaved-timing.ts';
import { createRawNodeVerifier, type RawKeySpec } from '../support/raw-node-verify.ts';
import { createRawWebVerifier } from '../support/raw-web-verify.ts';

export type VerifyKind = 'raw-node' | 'raw-web' | 'raw-js' | 'keyward-node' | 'keyward-web' | 'keyward-js';

/** The kinds that check HS256 only (an HMAC in JavaScript): skipped for the other algorithms. */
export const HS256_ONLY_KINDS: readonly VerifyKind[] = ['raw-js', 'keyward-js'];

const KEYWARD_PRIMITIVES: Partial<Record<VerifyKind, VerifyPrimitive>> = {
  'keyward-node': nodeVerify as VerifyPrimitive,
  'keyward-web': webCryptoVerify as VerifyPrimitive,
  'keyward-js': jsHmacVerify as VerifyPrimitive,
};

export interface RuntimeVerifySetup {
  timing: TimingOptions;
  kinds: VerifyKind[];
  /**
   * Per algorithm: the keyset holding its key, the same keys for the lower bounds (newest first), a valid token
   * with kid, the same token with a bad signature.
   */
  algs: { alg: string; keyset: Keyset; raw: RawKeySpec[]; token: string; badSignature: string }[];
}

const OPTIONS: VerifyOptions = {
  algorithms: ['HS256', 'ES256', 'EdDSA'],
  clockToleranceMs: 30_000,
  maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
  now: Date.now,
};
const valid = (result: unknown) => (result as { valid?: boolean }).valid === true;

async function verifierOf(kind: VerifyKind, keyset: Keyset, raw: RawKeySpec[]) {
  if (kind === 'raw-node') return createRawNodeVerifier(raw);
  if (kind === 'raw-js') return createRawNodeVerifier(raw, 'js');
  if (kind === 'raw-web') return createRawWebVerifier(raw);
  const ring = await prepareKeyRing(keyset, KEYWARD_PRIMITIVES[kind] as VerifyPrimitive);
  return (token: string) => verifyToken(token, ring, OPTIONS);
}

const path = process.env.BENCH_SETUP;
if (path === undefined) throw new Error('BENCH_SETUP: expected the path of the setup JSON');
const setup = JSON.parse(readFileSync(path, 'utf8')) as RuntimeVerifySetup;
const cases: TimedCase[] = [];
for (const { alg, keyset, raw, token, badSignature } of setup.algs) {
  for (const kind of setup.kinds) {
    if (alg !== 'HS256' && HS256_ONLY_KINDS.includes(kind)) continue;
    const verify = await verifierOf(kind, keyset, raw);
    const bad = await verify(badSignature);
    if (bad.valid || bad.error !== 'signature_invalid') {
      throw new Error(`${kind} ${alg}: the bad signature gave ${JSON.stringify(bad)}`);
    }
    const isAsync = verify(token) instanceof Promise;
    cases.push({
      name: `${kind}/${alg.toLowerCase()}`,
      async: isAsync,
      run: () => verify(token),
      check: valid,
    });
  }
}
console.log(JSON.stringify(await timeCases(cases, setup.timing)));
