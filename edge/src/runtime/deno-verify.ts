/**
 * Deno's verify primitive: the HMAC in JavaScript for HS256 (js-hmac-verify.ts), WebCrypto for EdDSA and ES256.
 * In a server the HMAC in JavaScript takes less CPU than Deno's node:crypto (an op call and a new Buffer per
 * digest) and far less than its WebCrypto (a promise per verify), with the same verdicts (`npm run bench`, cases
 * runtimeVerify and http; test/fuzz/alg-confusion-runtimes.test.ts). Deno's ECDSA takes about twice WebCrypto's
 * time, and its node:crypto Ed25519, though faster, refuses to import a public key that is no curve point, which
 * every other runtime imports (and which then verifies nothing): a keyset holding one would be refused whole on
 * Deno alone.
 */
import { type VerifyPrimitive, webCryptoVerify } from '../../../shared/verify-primitive.ts';
import { jsHmacVerify } from './js-hmac-verify.ts';
import { primitiveByAlgorithm } from './primitive-by-algorithm.ts';

export const denoVerify = primitiveByAlgorithm('deno', {
  HS256: jsHmacVerify as VerifyPrimitive,
  EdDSA: webCryptoVerify as VerifyPrimitive,
  ES256: webCryptoVerify as VerifyPrimitive,
});
