/**
 * The keysets and tokens every part of the bench verifies: HS256 with one active key and three previous keys in
 * grace; and a public keyset of an EdDSA and an ES256 key (SPEC section 8), as an edge holds it.
 */
import { type Keyset, publicKeyset, rotateKeyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, signWithPair } from '../../test/support/key-pairs.ts';
import { newSecret, signToken } from '../../test/support/sign-token.ts';

export interface BenchSecret {
  kid: string;
  secret: string;
}

export interface BenchFixture {
  keyset: Keyset;
  /** Oldest first; the last one is active. */
  secrets: BenchSecret[];
  active: BenchSecret;
  claims: Record<string, unknown>;
  payloadBytes: number;
  tokens: {
    /** Signed by the active key, with kid. */
    withKid: string;
    /** No kid, signed by the oldest previous key: the verifier tries all four keys. */
    noKidOldest: string;
    /** The `withKid` token with one signature byte changed. */
    badSignature: string;
  };
  asymmetric: AsymmetricFixture;
}

export type AsymmetricAlg = 'EdDSA' | 'ES256';
export const ASYMMETRIC_ALGS: readonly AsymmetricAlg[] = ['EdDSA', 'ES256'];

export interface AsymmetricFixture {
  /** Public only (no `d`): the EdDSA key active, the ES256 key previous in grace. */
  keyset: Keyset;
  /** Per algorithm, the same claims signed with kid by that algorithm's key. */
  tokens: Record<AsymmetricAlg, string>;
  /** Per algorithm, that token with one signature byte changed. */
  badSignature: Record<AsymmetricAlg, string>;
}

const GRACE_MS = 24 * 3_600_000;

/** Realistic claims of an access token, about 300 bytes of JSON. */
export function benchClaims(nowMs: number): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: 'https://auth.example.com/',
    sub: 'user_2f9c1d7e4b8a4c0e9d3f',
    aud: 'keyward-bench',
    iat,
    nbf: iat - 5,
    exp: iat + 3600,
    jti: '8c1e2f7a-5b4d-4e3a-9f10',
    scope: 'read:orders write:orders',
    email: 'ada.lovelace@example.com',
    name: 'Ada Lovelace',
    roles: ['admin', 'billing', 'support'],
  };
}

export async function createFixture(nowMs = Date.now()): Promise<BenchFixture> {
  const secrets: BenchSecret[] = [];
  let keyset: Keyset | null = null;
  for (let i = 0; i < 4; i++) {
    const secret = newSecret();
    const kid = await computeKid(secret);
    secrets.push({ kid, secret });
    // One minute apart, so the ring's newest-first order is well defined.
    keyset = rotateKeyset(
      keyset,
      { secret, kid },
      { now: new Date(nowMs - (4 - i) * 60_000), gracePeriodMs: GRACE_MS },
    );
  }
  const active = secrets[3] as BenchSecret;
  const oldest = secrets[0] as BenchSecret;
  const claims = benchClaims(nowMs);
  const withKid = signToken(active.secret, active.kid, claims);
  return {
    keyset: keyset as Keyset,
    secrets,
    active,
    claims,
    payloadBytes: Buffer.byteLength(JSON.stringify(claims)),
    tokens: {
      withKid,
      noKidOldest: signToken(oldest.secret, undefined, claims),
      badSignature: withBadSignature(withKid),
    },
    asymmetric: await asymmetricFixture(claims),
  };
}

/** The token with one signature character changed (not the last one, whose low bits may not count). */
function withBadSignature(token: string): string {
  const last = token.at(-2) === 'A' ? 'B' : 'A';
  return `${token.slice(0, -2)}${last}${token.at(-1)}`;
}

async function asymmetricFixture(claims: Record<string, unknown>): Promise<AsymmetricFixture> {
  const keyset = publicKeyset(await buildMixedKeyset(2, [{ key: EDDSA_PAIR }, { key: ES256_PAIR }]));
  const eddsa = await signWithPair(EDDSA_PAIR, claims);
  const es256 = await signWithPair(ES256_PAIR, claims);
  return {
    keyset,
    tokens: { EdDSA: eddsa, ES256: es256 },
    badSignature: { EdDSA: withBadSignature(eddsa), ES256: withBadSignature(es256) },
  };
}
