import { describe, expect, it } from 'vitest';
import { checkOutcome } from '../../test/support/admin-check-outcome.ts';
import { AdminAuth } from '../src/admin-auth.ts';

const TOKEN = 'admin-auth-test-token-'.padEnd(64, 'x');

const outcome = (auth: AdminAuth, peer: string, token: string | undefined) =>
  checkOutcome(auth, peer, token, TOKEN);

describe('AdminAuth brake', () => {
  it('locks a peer out after 5 failures, doubles up to 5 minutes while it keeps guessing, forgets it after a quiet window', () => {
    let now = 0;
    const auth = new AdminAuth(TOKEN, { now: () => now });
    const lockoutAfterOneMoreFailure = () => {
      outcome(auth, 'b', 'wrong');
      let locked = 0;
      while (outcome(auth, 'b', undefined) === 'rate_limited') {
        now += 500;
        locked += 500;
      }
      return locked;
    };
    for (let i = 0; i < 4; i++) outcome(auth, 'b', 'wrong');
    const lockouts = Array.from({ length: 11 }, lockoutAfterOneMoreFailure);
    // The fifth failure locks for 1 s; each failure after a lockout doubles it (the probe that finds the
    // lockout over is itself a failure; the wrong guess right after it meets the new lockout).
    expect(lockouts.slice(0, 5)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(lockouts.at(-1)).toBe(300_000);
    // The probe that ended the last wait was a failure: locked 5 minutes again. Quiet for the window after
    // that lockout: the count starts over.
    now += 300_000 + 60_001;
    for (let i = 0; i < 4; i++) expect(outcome(auth, 'b', 'wrong')).toBe('permission_denied');
    expect(outcome(auth, 'b', TOKEN)).toBe('ok');
  });

  it('keeps peers apart: one locked out does not lock out another', () => {
    const auth = new AdminAuth(TOKEN, { now: () => 0 });
    for (let i = 0; i < 5; i++) outcome(auth, 'attacker', 'wrong');
    expect(outcome(auth, 'attacker', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, 'operator', 'wrong')).toBe('permission_denied');
    expect(outcome(auth, 'operator', TOKEN)).toBe('ok');
  });

  it('lets the right token through from a locked-out peer, which then starts over', () => {
    const auth = new AdminAuth(TOKEN, { now: () => 0 });
    for (let i = 0; i < 5; i++) outcome(auth, 'shared-nat', 'wrong');
    expect(outcome(auth, 'shared-nat', undefined)).toBe('rate_limited');
    expect(outcome(auth, 'shared-nat', '')).toBe('rate_limited');
    expect(outcome(auth, 'shared-nat', `${TOKEN}x`)).toBe('rate_limited');
    expect(outcome(auth, 'shared-nat', TOKEN)).toBe('ok');
    // Its failures are forgotten with the right token: four more wrong ones are answered as such.
    for (let i = 0; i < 4; i++) expect(outcome(auth, 'shared-nat', 'wrong')).toBe('permission_denied');
  });
});
