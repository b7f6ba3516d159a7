/**
 * One keyset prepared with both verify primitives (node:crypto and WebCrypto) and read by the reference verifier,
 * so that an algorithm-confusion test asks all three for a verdict on the same token and checks that they agree.
 */
import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';
import { type KeyRing, prepareKeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { type VerifyPrimitive, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';
import { type ReferenceKey, type ReferenceResult, referenceVerify } from './reference-jwt-verifier.ts';

export const PRIMITIVES: readonly VerifyPrimitive[] = [
  nodeVerify as VerifyPrimitive,
  webCryptoVerify as VerifyPrimitive,
];

export const ALL_ALGORITHMS = ['HS256', 'ES256', 'EdDSA'] as const;

export interface ConfusionRings {
  keyset: Keyset;
  /** One ring per primitive, by primitive name. */
  rings: ReadonlyMap<string, KeyRing>;
  /** The same keys as the reference verifier reads them, in the order a token without kid tries them. */
  reference: ReferenceKey[];
}

const RANK = { active: 0, standby: 1, previous: 2 } as const;

/** The keyset's keys for the reference verifier, ordered from SPEC (active, standby, previous newest first). */
export function referenceKeysOf(keyset: Keyset): ReferenceKey[] {
  return [...keyset.keys]
    .sort((a, b) =>
      a.status === b.status
        ? Date.parse(b.created_at) - Date.parse(a.created_at)
        : RANK[a.status] - RANK[b.status],
    )
    .map((entry): ReferenceKey => {
      const expiresAt = entry.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(entry.expires_at);
      if (entry.alg === 'HS256') {
        return {
          kid: entry.kid,
          alg: 'HS256',
          expiresAt,
          secret: Buffer.from(entry.k, 'base64url').toString('utf8'),
        };
      }
      if (entry.alg === 'ES256') return { kid: entry.kid, alg: 'ES256', expiresAt, x: entry.x, y: entry.y };
      return { kid: entry.kid, alg: 'EdDSA', expiresAt, x: entry.x };
    });
}

/** Prepares `keyset` (as an edge holds it: no `d`) with both primitives, importing keys of `algorithms` only. */
export async function confusionRings(
  keyset: Keyset,
  algorithms: readonly string[] = ALL_ALGORITHMS,
): Promise<ConfusionRings> {
  const rings = new Map<string, KeyRing>();
  for (const primitive of PRIMITIVES) {
    rings.set(primitive.name, await prepareKeyRing(keyset, primitive, algorithms));
  }
  // The edge knows every key by kid, imported or not; the reference verifier sees them all too.
  const reference = referenceKeysOf(keyset);
  return { keyset, rings, reference };
}

export interface VerdictOptions {
  now: number;
  algorithms?: readonly string[];
  clockToleranceMs?: number;
  issuer?: string;
  audience?: string;
}

/**
 * verifyToken's verdict on `token`, checked to be the same with both primitives and the same as the reference
 * verifier's; the failing expectation names the primitive that disagrees.
 */
export async function verdict(
  token: string,
  setup: ConfusionRings,
  options: VerdictOptions,
): Promise<ReferenceResult> {
  const algorithms = options.algorithms ?? ALL_ALGORITHMS;
  const base = {
    algorithms,
    issuer: options.issuer,
    audience: options.audience,
    clockToleranceMs: options.clockToleranceMs ?? 30_000,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
  };
  const expected = referenceVerify(token, setup.reference, { ...base, now: options.now });
  const verifyOptions = { ...base, now: () => options.now } as VerifyOptions;
  for (const [name, ring] of setup.rings) {
    const actual = await verifyToken(token, ring, verifyOptions);
    // isDeepStrictEqual first: expect() on every answer of a long fuzz run would dominate it.
    if (!isDeepStrictEqual(actual, expected)) {
      expect({ primitive: name, ...actual }).toEqual({ primitive: name, ...expected });
    }
  }
  return expected;
}
