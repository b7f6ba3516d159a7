/** Checks against the keyset a control plane replica serves, verified as the edges do (kid, else active, then previous within grace). */
import type { KeysetManager } from '../../control-plane/src/keyset/keyset-manager.ts';
import { prepareKeyRing } from '../../shared/key-ring.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyResult, verifyToken } from '../../shared/verify-token.ts';

/** The kids of the keys a verifier should accept right now from what `manager` serves, active first. */
export async function heldKids(manager: KeysetManager, now = Date.now()): Promise<string[]> {
  const ring = await prepareKeyRing((await manager.keyset()).keyset, nodeVerify);
  return ring.ordered.filter((key) => now < key.expiresAt).map((key) => key.kid);
}

/** Verifies `token` with the keyset `manager` serves. */
export async function verifyWithHeld(manager: KeysetManager, token: string): Promise<VerifyResult> {
  const ring = await prepareKeyRing((await manager.keyset()).keyset, nodeVerify);
  return verifyToken(token, ring, {
    algorithms: ['HS256'],
    clockToleranceMs: 30_000,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    now: () => Date.now(),
  });
}
