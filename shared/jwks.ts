/**
 * The JWK Set of a keyset (SPEC section 8, `GET /.well-known/jwks.json`): the public JWK of every standby, active
 * and previous asymmetric key still valid, for third parties that verify Keyward-issued tokens with a JWKS
 * client. Never a symmetric key, never a private member.
 */
import { isExpired, type Keyset } from './keyset.ts';

export interface PublicJwk {
  kty: 'EC' | 'OKP';
  crv: 'P-256' | 'Ed25519';
  x: string;
  y?: string;
  kid: string;
  alg: 'ES256' | 'EdDSA';
  use: 'sig';
}

export function jwks(keyset: Keyset, now: Date): { keys: PublicJwk[] } {
  const keys: PublicJwk[] = [];
  for (const key of keyset.keys) {
    if (key.alg === 'HS256' || isExpired(key, now)) continue;
    if (key.alg === 'ES256') {
      keys.push({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y, kid: key.kid, alg: 'ES256', use: 'sig' });
    } else {
      keys.push({ kty: 'OKP', crv: 'Ed25519', x: key.x, kid: key.kid, alg: 'EdDSA', use: 'sig' });
    }
  }
  return { keys };
}
