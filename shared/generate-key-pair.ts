/**
 * New ES256 (P-256) and EdDSA (Ed25519) key pairs, made by WebCrypto (the runtime's own generator, no home-made
 * crypto) and exported as JWK members with their kid (SPEC section 8). WebCrypto only, so the control plane and
 * the tests under workerd make keys the same way.
 */
import { KeywardError } from './errors.ts';
import type { NewKeyPair } from './keyset.ts';
import { publicThumbprint } from './kid.ts';

export type KeyPairAlg = NewKeyPair['alg'];
export const KEY_PAIR_ALGORITHMS: readonly KeyPairAlg[] = ['ES256', 'EdDSA'];

export async function generateKeyPair(alg: KeyPairAlg): Promise<NewKeyPair> {
  if (alg === 'ES256') {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const { x, y, d } = await crypto.subtle.exportKey('jwk', pair.privateKey);
    if (x === undefined || y === undefined || d === undefined) throw exportFailed(alg);
    return {
      alg,
      kid: await publicThumbprint({ kty: 'EC', crv: 'P-256', x, y }),
      kty: 'EC',
      crv: 'P-256',
      x,
      y,
      d,
    };
  }
  if (alg === 'EdDSA') {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const { x, d } = await crypto.subtle.exportKey('jwk', pair.privateKey);
    if (x === undefined || d === undefined) throw exportFailed(alg);
    return {
      alg,
      kid: await publicThumbprint({ kty: 'OKP', crv: 'Ed25519', x }),
      kty: 'OKP',
      crv: 'Ed25519',
      x,
      d,
    };
  }
  throw new KeywardError(
    'algorithm_unknown',
    `Unknown key algorithm "${String(alg)}": expected ES256 or EdDSA`,
  );
}

function exportFailed(alg: string): Error {
  return new Error(`the runtime exported an incomplete ${alg} JWK`);
}
