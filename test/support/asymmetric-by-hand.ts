/**
 * ES256 and EdDSA tokens made by hand with node:crypto, sharing no code with jose or shared/: any header, signed
 * synchronously (a fuzz run signs thousands), and the forms of a signature an attacker tries: DER instead of
 * r||s, wrong lengths, the high-S twin of an ECDSA signature, an Ed25519 S that is not reduced mod L. Also every
 * byte form of a public key an attacker may feed HMAC in an algorithm-confusion attack.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import type { NewKeyPair } from '../../shared/keyset.ts';
import { b64json } from './jose-by-hand.ts';
import { referenceSpki } from './reference-jwt-verifier.ts';

/** The order of the P-256 group and of the Ed25519 base point. */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;

const privateKeys = new WeakMap<NewKeyPair, KeyObject>();

export function privateKeyOf(pair: NewKeyPair): KeyObject {
  let key = privateKeys.get(pair);
  if (key === undefined) {
    const { alg: _alg, kid: _kid, ...jwk } = pair;
    key = createPrivateKey({ key: jwk, format: 'jwk' });
    privateKeys.set(pair, key);
  }
  return key;
}

/** The raw JWS signature of `signingInput` with the pair's own algorithm (ES256 as r||s, or as DER). */
export function signatureOf(pair: NewKeyPair, signingInput: string, der = false): Buffer {
  const data = Buffer.from(signingInput, 'ascii');
  if (pair.alg === 'EdDSA') return sign(null, data, privateKeyOf(pair));
  return sign('sha256', data, { key: privateKeyOf(pair), dsaEncoding: der ? 'der' : 'ieee-p1363' });
}

/** A token with exactly this header and these claims, its signature made by `pair` and passed through `shape`. */
export function signAsym(
  pair: NewKeyPair,
  header: unknown,
  claims: unknown,
  shape: (signature: Buffer) => Uint8Array = (signature) => signature,
): string {
  const input = `${b64json(header)}.${b64json(claims)}`;
  return `${input}.${Buffer.from(shape(signatureOf(pair, input))).toString('base64url')}`;
}

const toBig = (bytes: Uint8Array): bigint => BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
const fromBig = (value: bigint): Buffer => Buffer.from(value.toString(16).padStart(64, '0'), 'hex');

/** The other valid ECDSA signature of the same message: (r, n - s). */
export function highS(signature: Uint8Array): Buffer {
  const s = toBig(signature.subarray(32));
  return Buffer.concat([signature.subarray(0, 32), fromBig(P256_N - s)]);
}

/** Whether s is in the upper half of the group order (the form BIP 62 style low-S rules refuse). */
export function isHighS(signature: Uint8Array): boolean {
  return toBig(signature.subarray(32)) > P256_N / 2n;
}

/** An Ed25519 signature whose S (little-endian) is S + L: the same value mod L, not canonical (RFC 8032 5.1.7). */
export function nonCanonicalEd25519S(signature: Uint8Array): Buffer {
  const s = toBig(Buffer.from(signature.subarray(32)).reverse()) + ED25519_L;
  return Buffer.concat([signature.subarray(0, 32), fromBig(s).reverse()]);
}

/** Every byte form of a public key an HS256 "key confusion" forger may take as the HMAC secret. */
export function publicKeyForms(pair: NewKeyPair): Record<string, Buffer> {
  const x = Buffer.from(pair.x, 'base64url');
  const spki = referenceSpki(pair.alg === 'ES256' ? { x: pair.x, y: pair.y } : { x: pair.x });
  const pem = createPublicKey({ key: spki, format: 'der', type: 'spki' })
    .export({ format: 'pem', type: 'spki' })
    .toString();
  const { d: _d, alg, kid, ...publicMembers } = pair;
  const forms: Record<string, Buffer> = {
    x: x,
    'x (base64url text)': Buffer.from(pair.x),
    'JWK JSON': Buffer.from(JSON.stringify(publicMembers)),
    'JWK JSON with kid and alg': Buffer.from(JSON.stringify({ ...publicMembers, kid, alg })),
    'JWK JSON with kid, alg and use': Buffer.from(JSON.stringify({ ...publicMembers, kid, alg, use: 'sig' })),
    'SPKI DER': spki,
    'SPKI PEM': Buffer.from(pem),
    'SPKI PEM without trailing newline': Buffer.from(pem.trimEnd()),
  };
  if (pair.alg === 'ES256') {
    const y = Buffer.from(pair.y, 'base64url');
    forms['x||y'] = Buffer.concat([x, y]);
    forms['04||x||y (uncompressed point)'] = Buffer.concat([Buffer.from([4]), x, y]);
  }
  return forms;
}
