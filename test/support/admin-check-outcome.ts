/** One AdminAuth check as a word: 'ok', or the ControlPlaneError code it refused with (never echoing the token). */
import { expect } from 'vitest';
import type { AdminAuth } from '../../control-plane/src/admin-auth.ts';
import { ControlPlaneError } from '../../control-plane/src/errors.ts';

/** Checks `token` from `peer`; `secret` is the configured token, which no error message may contain. */
export function checkOutcome(
  auth: AdminAuth,
  peer: string,
  token: string | undefined,
  secret: string,
): string {
  try {
    auth.check(peer, token);
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(ControlPlaneError);
    expect((error as Error).message).not.toContain(secret.slice(0, 16));
    return (error as ControlPlaneError).code;
  }
}
