/**
 * A verify primitive that hands each key to the primitive chosen for its algorithm, for a runtime where neither
 * node:crypto nor WebCrypto is the faster one for every algorithm (Deno).
 */
import type { KeyAlg } from '../../../shared/keyset.ts';
import type { VerifyPrimitive } from '../../../shared/verify-primitive.ts';

interface RoutedKey {
  primitive: VerifyPrimitive;
  key: unknown;
}

export function primitiveByAlgorithm(
  name: string,
  primitives: Record<KeyAlg, VerifyPrimitive>,
): VerifyPrimitive<RoutedKey> {
  return {
    name,
    importKey(entry) {
      const primitive = primitives[entry.alg];
      const key = primitive.importKey(entry);
      return key instanceof Promise ? key.then((k) => ({ primitive, key: k })) : { primitive, key };
    },
    verify({ primitive, key }, signingInput, signature) {
      return primitive.verify(key, signingInput, signature);
    },
  };
}
