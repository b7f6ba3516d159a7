/**
 * Asymmetric test keys (SPEC section 8): fixed ES256 and EdDSA key pairs so that failures reproduce, keysets that
 * mix them with HS256 keys, and tokens signed with jose from a private JWK, as an issuer reading
 * `jwt_secrets:signing_key` would. Web APIs only, so both the workerd and the node suites use it.
 */
import { importJWK, SignJWT } from 'jose';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import {
  type KeyEntry,
  type Keyset,
  type NewKeyPair,
  publicKeyset,
  type SigningJwk,
} from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';

/** A fixed P-256 key pair; kid = RFC 7638 thumbprint of its public JWK (key-pairs.test.ts checks both kids). */
export const ES256_PAIR: NewKeyPair = {
  alg: 'ES256',
  kid: 'df1XoCnAzz7SXm0DGi0rBJUDFBYTgGKRuqCyOvLMHBg',
  kty: 'EC',
  crv: 'P-256',
  x: 'MtErdx94igG-Ww_BGrE31QBisaVVTw1VNHwXhKeAa7k',
  y: 'xvMd0IT8UjF97yRkiuR1_EJatzTQOXFt47ApXK4pL38',
  d: 'vmJRCVJBtZ7tOgkyuJzXyhT1mtOBf01EbqC3RISukh0',
};

/** A fixed Ed25519 key pair (RFC 8037 appendix A.1). */
export const EDDSA_PAIR: NewKeyPair = {
  alg: 'EdDSA',
  kid: 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
  kty: 'OKP',
  crv: 'Ed25519',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
  d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
};

export interface MixedKeySpec {
  /** An HS256 secret, or a key pair. */
  key: string | NewKeyPair;
  status?: KeyEntry['status'];
  /** Previous keys only. */
  expiresAt?: Date;
}

/**
 * A keyset of any mix of HS256 and asymmetric keys, first entry active unless statuses say otherwise. Entries
 * keep `d` (the control plane's own copy); `publicKeyset` of it is what an edge receives.
 */
export async function buildMixedKeyset(version: number, specs: MixedKeySpec[]): Promise<Keyset> {
  const created = new Date('2026-01-01T00:00:00Z');
  const keys = await Promise.all(
    specs.map(async (spec, index): Promise<KeyEntry> => {
      const status = spec.status ?? (index === 0 ? 'active' : 'previous');
      const base = {
        status,
        created_at: new Date(created.getTime() - index * 86_400_000).toISOString(),
        expires_at:
          status === 'previous' ? (spec.expiresAt ?? new Date('2100-01-01T00:00:00Z')).toISOString() : null,
        version: Math.max(1, version - index),
      };
      if (typeof spec.key === 'string') {
        return { ...base, kid: await computeKid(spec.key), alg: 'HS256', k: encodeBase64url(utf8(spec.key)) };
      }
      const { alg: _alg, kid, ...members } = spec.key;
      return { ...base, kid, alg: spec.key.alg, ...members } as KeyEntry;
    }),
  );
  return { version, issued_at: created.toISOString(), keys };
}

/** The keyset as edges get it: no private member. */
export function edgeView(keyset: Keyset): Keyset {
  return publicKeyset(keyset);
}

/** The private JWK of a pair, as `jwt_secrets:signing_key` holds it. */
export function privateJwk(pair: NewKeyPair): SigningJwk {
  return { ...pair } as SigningJwk;
}

/** A token signed with jose from the pair's private JWK; the header carries the kid unless `kid` is null. */
export async function signWithPair(
  pair: NewKeyPair,
  claims: Record<string, unknown>,
  header: { kid?: string | null; alg?: string } = {},
): Promise<string> {
  const key = await importJWK(privateJwk(pair), pair.alg);
  const protectedHeader: { alg: string; kid?: string } = { alg: header.alg ?? pair.alg };
  const kid = header.kid === undefined ? pair.kid : header.kid;
  if (kid !== null) protectedHeader.kid = kid;
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key);
}
