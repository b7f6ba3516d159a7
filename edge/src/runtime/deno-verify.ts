/**
 * Deno's verify primitive: node:crypto for HS256, WebCrypto for EdDSA and ES256. Deno's synchronous node:crypto
 * HMAC takes less time than its WebCrypto one and reaches the same verdicts (`npm run bench`, case runtimeVerify;
 * test/fuzz/alg-confusion-runtimes.test.ts). Its ECDSA takes about twice WebCrypto's time, and its Ed25519, though
 * faster, refuses to import a public key that is no curve point, which every other runtime imports (and which
 * then verifies nothing): a keyset holding one would be refused whole on Deno alone.
 */
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { type VerifyPrimitive, webCryptoVerify } from '../../../shared/verify-primitive.ts';
import { primitiveByAlgorithm } from './primitive-by-algorithm.ts';

export const denoVerify = primitiveByAlgorithm('deno', {
  HS256: nodeVerify as VerifyPrimitive,
  EdDSA: webCryptoVerify as VerifyPrimitive,
  ES256: webCryptoVerify as VerifyPrimitive,
});
