/** The first keyset, built from the secrets that existed before Keyward (`jwt_secrets:active`, `JWT_SECRET`). */
import { assertSecretStrength, type Keyset, rotateKeyset } from '../../../shared/keyset.ts';
import { computeKid } from '../../../shared/kid.ts';
import { generateSecret } from '../rotation/generate-secret.ts';
import type { KeysetStorage } from '../storage/keyset-storage.ts';

export interface BootstrapOptions {
  now: () => Date;
  gracePeriodMs: number;
  onWarning: (message: string) => void;
}

/** Version 1 from the storage's legacy secrets, the given active one active; a generated one when there are none. */
export async function bootstrapKeyset(storage: KeysetStorage, options: BootstrapOptions): Promise<Keyset> {
  let legacy = await storage.loadLegacySecrets();
  if (legacy === null) {
    options.onWarning('no keyset and no initial secret in storage: generated the first secret');
    legacy = { active: generateSecret(), previous: [] };
  }
  // Earlier secrets first, so the given active one ends up active with the highest version.
  let keyset: Keyset | null = null;
  for (const secret of [...legacy.previous].reverse().concat(legacy.active)) {
    assertSecretStrength(secret);
    keyset = rotateKeyset(
      keyset,
      { secret, kid: await computeKid(secret) },
      { now: options.now(), gracePeriodMs: options.gracePeriodMs },
    );
  }
  return { ...(keyset as Keyset), version: 1 };
}
