/** The first keyset, built from the secrets that existed before Keyward (`jwt_secrets:active`, `JWT_SECRET`). */
import { utf8 } from '../../../shared/base64url.ts';
import { generateKeyPair } from '../../../shared/generate-key-pair.ts';
import {
  assertSecretStrength,
  type Keyset,
  MIN_SECRET_BYTES,
  type RotateOptions,
  rotateKeyset,
} from '../../../shared/keyset.ts';
import { computeKid } from '../../../shared/kid.ts';
import { generateSecret } from '../rotation/generate-secret.ts';
import type { KeysetStorage } from '../storage/keyset-storage.ts';

export interface BootstrapOptions {
  now: () => Date;
  gracePeriodMs: number;
  onWarning: (message: string) => void;
  /**
   * Envelopes are sealed without KEYSET_KEY, so they can carry no secret: a first key generated for want of a
   * legacy secret is an EdDSA key pair.
   */
  publicKeysOnly?: boolean;
}

/** Where the operator set each storage's pre-Keyward active secret (SPEC sections 3 and 4). */
const LEGACY_SECRET_NAME: Record<KeysetStorage['kind'], string> = {
  valkey: 'jwt_secrets:active',
  env: 'JWT_SECRET',
};

/**
 * Version 1 from the storage's legacy secrets, the given active one active; a generated one when there are none
 * (an EdDSA key pair with `publicKeysOnly`).
 * The active one becomes version 1 whatever its length (SPEC section 4: issuers already sign with it), with a
 * warning when it is shorter than MIN_SECRET_BYTES (Valkey storage reads an empty one as none; the env storage's
 * configuration takes none shorter).
 */
export async function bootstrapKeyset(storage: KeysetStorage, options: BootstrapOptions): Promise<Keyset> {
  let legacy = await storage.loadLegacySecrets();
  if (legacy === null && options.publicKeysOnly) {
    options.onWarning(
      'no keyset and no initial secret in storage, and no KEYSET_KEY: generated an EdDSA key pair',
    );
    const now = options.now();
    return rotateKeyset(null, await generateKeyPair('EdDSA'), { now, gracePeriodMs: 0 });
  }
  if (legacy === null) {
    options.onWarning('no keyset and no initial secret in storage: generated the first secret');
    legacy = { active: generateSecret(), previous: [] };
  }
  const name = LEGACY_SECRET_NAME[storage.kind];
  const activeBytes = utf8(legacy.active).length;
  if (activeBytes < MIN_SECRET_BYTES) {
    options.onWarning(
      `${name} is shorter than ${MIN_SECRET_BYTES} bytes: it is taken as version 1 since issuers already sign with it, but should be rotated soon (keyward rotate, or RotateSecret with generate)`,
    );
  }
  const rotation: RotateOptions = { now: options.now(), gracePeriodMs: options.gracePeriodMs };
  // Earlier secrets first, so the given active one ends up active with the highest version.
  let keyset: Keyset | null = null;
  for (const secret of [...legacy.previous].reverse()) {
    assertSecretStrength(secret);
    keyset = rotateKeyset(keyset, { secret, kid: await computeKid(secret) }, rotation);
  }
  const active = { secret: legacy.active, kid: await computeKid(legacy.active) };
  keyset = rotateKeyset(keyset, active, { ...rotation, inUse: true });
  return { ...keyset, version: 1 };
}
