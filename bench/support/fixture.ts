/** The keyset and tokens every part of the bench verifies: one active key, three previous keys in grace. */
import { type Keyset, rotateKeyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
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
  const last = withKid.at(-2) === 'A' ? 'B' : 'A';
  return {
    keyset: keyset as Keyset,
    secrets,
    active,
    claims,
    payloadBytes: Buffer.byteLength(JSON.stringify(claims)),
    tokens: {
      withKid,
      noKidOldest: signToken(oldest.secret, undefined, claims),
      badSignature: `${withKid.slice(0, -2)}${last}${withKid.at(-1)}`,
    },
  };
}
