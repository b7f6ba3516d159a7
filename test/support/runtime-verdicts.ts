/**
 * Verdicts of the shared verifier with the runtime's own WebCrypto (or another primitive given) on a list of
 * keysets and tokens: the kid for a valid token, the error code otherwise, `ring: <code>` when the keyset does
 * not prepare. Web APIs only, so that node, deno and bun run the same code (test/support/verdicts-entry.ts).
 */
import { KeywardError } from '../../shared/errors.ts';
import { type KeyRing, prepareKeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { type VerifyPrimitive, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, verifyToken } from '../../shared/verify-token.ts';

export interface RuntimeCase {
  keyset: number;
  token: string;
  now: number;
  algorithms: string[];
}

export interface RuntimeCases {
  keysets: Keyset[];
  cases: RuntimeCase[];
}

export async function verdictsOf(
  { keysets, cases }: RuntimeCases,
  primitive: VerifyPrimitive = webCryptoVerify as VerifyPrimitive,
): Promise<string[]> {
  const rings = new Map<string, KeyRing | string>();
  const verdicts: string[] = [];
  for (const item of cases) {
    const id = `${item.keyset}:${item.algorithms.join(',')}`;
    let ring = rings.get(id);
    if (ring === undefined) {
      try {
        ring = await prepareKeyRing(keysets[item.keyset] as Keyset, primitive, item.algorithms);
      } catch (error) {
        ring = `ring: ${error instanceof KeywardError ? error.code : String(error)}`;
      }
      rings.set(id, ring);
    }
    if (typeof ring === 'string') {
      verdicts.push(ring);
      continue;
    }
    const result = await verifyToken(item.token, ring, {
      algorithms: item.algorithms as never,
      clockToleranceMs: 30_000,
      maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
      now: () => item.now,
    });
    verdicts.push(result.valid ? result.kid : result.error);
  }
  return verdicts;
}
