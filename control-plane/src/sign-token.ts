/**
 * `keyward sign`'s token: signed with jose from a private JWK (HS256 `oct`, ES256 `EC`, EdDSA `OKP`), the alg
 * from the JWK and the kid from the JWK or, when it has none, computed as Keyward computes kids.
 */
import { importJWK, type JWK, SignJWT } from 'jose';
import { octThumbprint, publicThumbprint } from '../../shared/kid.ts';

const KTY_OF_ALG: Record<string, string> = { HS256: 'oct', ES256: 'EC', EdDSA: 'OKP' };

/** A signing key read from a file or Valkey that cannot sign: the message names what is wrong, never the key. */
export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

/** Parses `text` as a private JWK of one of Keyward's algorithms. */
export function parsePrivateJwk(text: string, source: string): JWK {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new SigningKeyError(`${source} is not a JSON JWK`);
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new SigningKeyError(`${source} is not a JSON JWK object`);
  }
  const { alg, kty, k, d } = jwk as JWK;
  if (typeof alg !== 'string' || KTY_OF_ALG[alg] === undefined) {
    throw new SigningKeyError(`${source}: "alg" must be HS256, ES256 or EdDSA`);
  }
  if (kty !== KTY_OF_ALG[alg]) {
    throw new SigningKeyError(`${source}: an ${alg} JWK has "kty": "${KTY_OF_ALG[alg]}"`);
  }
  if (alg === 'HS256' ? typeof k !== 'string' : typeof d !== 'string') {
    throw new SigningKeyError(
      `${source}: not a private key (no "${alg === 'HS256' ? 'k' : 'd'}" member); a public JWK cannot sign`,
    );
  }
  return jwk as JWK;
}

/** A JWT for `sub`, valid `ttlSeconds` from now, signed by `jwk`, with the kid in its header. */
export async function signWithJwk(jwk: JWK, claims: { sub: string; ttlSeconds: number }): Promise<string> {
  const alg = jwk.alg as string;
  const kid =
    jwk.kid ??
    (jwk.kty === 'oct'
      ? await octThumbprint(jwk.k as string)
      : await publicThumbprint(jwk as { kty: string; crv: string; x: string; y?: string }));
  const key = await importJWK(jwk, alg).catch(() => {
    throw new SigningKeyError(`the ${alg} JWK does not import as a key (a member is malformed)`);
  });
  return new SignJWT({ sub: claims.sub })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + claims.ttlSeconds)
    .sign(key);
}
