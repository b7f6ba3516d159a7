/**
 * The key a rotation or a stage installs: an HS256 secret (given, or 48 random bytes) or an ES256 / EdDSA key
 * pair, always generated here: the private key of an asymmetric key never travels in a request.
 */
import { KeywardError } from '../../../shared/errors.ts';
import { generateKeyPair } from '../../../shared/generate-key-pair.ts';
import { assertSecretStrength, KEY_ALGORITHMS, type KeyAlg, type NewKey } from '../../../shared/keyset.ts';
import { computeKidWith } from '../../../shared/kid.ts';
import { nodeEnvelopeCrypto } from '../../../shared/runtime/node-envelope.ts';
import { generateSecret } from './generate-secret.ts';

/** `value` as a key algorithm; '' means `empty` when given (RotateSecret's HS256), else it is refused. */
export function parseKeyAlg(value: string, empty?: KeyAlg): KeyAlg {
  if (value === '' && empty !== undefined) return empty;
  if ((KEY_ALGORITHMS as readonly string[]).includes(value)) return value as KeyAlg;
  throw new KeywardError(
    'algorithm_unknown',
    value === ''
      ? `alg is required: one of ${KEY_ALGORITHMS.join(', ')}`
      : `Unknown key algorithm "${value.slice(0, 32)}": expected one of ${KEY_ALGORITHMS.join(', ')}`,
  );
}

/**
 * A new key of `alg`. HS256 takes `secret` (checked for strength) or generates one when it is undefined;
 * ES256 and EdDSA refuse a secret (`secret_not_allowed`) and generate the key pair.
 */
export async function newKey(alg: KeyAlg, secret?: string): Promise<NewKey> {
  if (alg === 'HS256') {
    const value = secret ?? generateSecret();
    assertSecretStrength(value);
    return { alg: 'HS256', secret: value, kid: computeKidWith(value, nodeEnvelopeCrypto.sha256) };
  }
  if (secret !== undefined) {
    throw new KeywardError(
      'secret_not_allowed',
      `new_secret must be empty for ${alg}: the server generates ${alg} key pairs itself (the private key never travels in a request)`,
    );
  }
  return generateKeyPair(alg);
}
