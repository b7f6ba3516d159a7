/** A keyset prepared for verification: every key imported once, for its own algorithm, looked up by kid. */
import { KeywardError } from './errors.ts';
import { type KeyAlg, type KeyEntry, type KeyStatus, type Keyset, sameKey } from './keyset.ts';
import type { VerifyPrimitive } from './verify-primitive.ts';

export interface RingKey {
  kid: string;
  /** The one algorithm this key verifies (RFC 8725 section 3.1). */
  alg: KeyAlg;
  status: KeyStatus;
  /** Epoch ms after which the key no longer verifies; Infinity for the active and standby keys. */
  expiresAt: number;
  /** The key as the primitive imported it. */
  key: unknown;
}

export interface KeyRing {
  readonly version: number;
  readonly issuedAt: string;
  readonly keyset: Keyset;
  /** Every key of the keyset; those of algorithms left out are there unimported (`key` undefined). */
  readonly byKid: ReadonlyMap<string, RingKey>;
  /**
   * Per algorithm, the order in which a token without kid tries keys: the active key, the standby key, then
   * previous keys (newest first).
   */
  readonly byAlg: ReadonlyMap<string, readonly RingKey[]>;
  /** Every key in that order, whatever its algorithm. */
  readonly ordered: readonly RingKey[];
  readonly primitive: VerifyPrimitive;
}

const RANK: Record<KeyStatus, number> = { active: 0, standby: 1, previous: 2 };

/**
 * Imports every key of `keyset` with `primitive`, only those of `algorithms` when given (the others could
 * never verify a token the edge accepts). A key left out is still known by kid, unimported, so that a token
 * naming it under another algorithm is `algorithm_not_allowed` (SPEC section 8), never tried. A key that does
 * not import fails with `keyset_invalid`. A key that `held` (the ring this one replaces) imported with the same
 * primitive, same kid, algorithm and key, is taken over as imported: a rotation imports only the new key.
 */
export async function prepareKeyRing(
  keyset: Keyset,
  primitive: VerifyPrimitive,
  algorithms?: readonly string[],
  held?: KeyRing,
): Promise<KeyRing> {
  const allowed = (entry: Keyset['keys'][number]) =>
    algorithms === undefined || algorithms.includes(entry.alg);
  const sorted = keyset.keys
    .filter(allowed)
    .sort((a, b) =>
      a.status === b.status
        ? Date.parse(b.created_at) - Date.parse(a.created_at)
        : RANK[a.status] - RANK[b.status],
    );
  const imported = held?.primitive === primitive ? importedKeys(held) : undefined;
  const ordered: RingKey[] = [];
  for (const entry of sorted) {
    const before = imported?.get(entry.kid);
    if (before !== undefined && sameKey(before.entry, entry)) {
      ordered.push(ringKey(entry, before.key));
      continue;
    }
    let key: unknown;
    try {
      key = await primitive.importKey(entry);
    } catch (error) {
      throw new KeywardError(
        'keyset_invalid',
        `keyset invalid: key ${entry.kid} (${entry.alg}) does not import`,
        {
          cause: error,
        },
      );
    }
    ordered.push(ringKey(entry, key));
  }
  const byAlg = new Map<string, RingKey[]>();
  for (const key of ordered) {
    const list = byAlg.get(key.alg);
    if (list === undefined) byAlg.set(key.alg, [key]);
    else list.push(key);
  }
  return {
    version: keyset.version,
    issuedAt: keyset.issued_at,
    keyset,
    byKid: new Map([
      ...keyset.keys
        .filter((entry) => !allowed(entry))
        .map((entry) => [entry.kid, ringKey(entry, undefined)] as const),
      ...ordered.map((key) => [key.kid, key] as const),
    ]),
    byAlg,
    ordered,
    primitive,
  };
}

/**
 * A ring entry for `entry`, holding `key` as imported; undefined for a key of an algorithm the ring was not
 * prepared for: known by kid and alg, never verified with.
 */
function ringKey(entry: Keyset['keys'][number], key: unknown): RingKey {
  const expiresAt = entry.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(entry.expires_at);
  return { kid: entry.kid, alg: entry.alg, status: entry.status, expiresAt, key };
}

/** The keys `ring` imported, by kid, with the entries they were imported from. */
function importedKeys(ring: KeyRing): Map<string, { entry: KeyEntry; key: unknown }> {
  const imported = new Map<string, { entry: KeyEntry; key: unknown }>();
  for (const entry of ring.keyset.keys) {
    const key = ring.byKid.get(entry.kid)?.key;
    if (key !== undefined) imported.set(entry.kid, { entry, key });
  }
  return imported;
}
