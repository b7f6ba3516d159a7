/**
 * The rotation updaters when their own write landed unseen (the client re-sent it after its reply was lost, and
 * the re-sent one lost the compare-and-swap to the first): done, unless an emergency asked for was not what
 * landed, because another call made the same change without it. Then ABORTED, never a success that leaves
 * earlier keys verifying.
 */
import { describe, expect, it } from 'vitest';
import { type Keyset, type NewKey, promoteKey, rotateKeyset, stageKey } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { ControlPlaneError } from '../src/errors.ts';
import { rotateTo } from '../src/rotation/rotate-secret.ts';
import { promoteTo } from '../src/rotation/stage-promote.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

const GRACE = 86_400_000;
const now = () => new Date('2026-01-01T00:00:00Z');
const stored = (keyset: Keyset): StoredKeyset => ({ keyset, envelope: null });
const hs256 = async (label: string): Promise<NewKey> => {
  const secret = `${label}-${'s'.repeat(40)}`;
  return { secret, kid: await computeKid(secret) };
};

async function staged() {
  const first = rotateKeyset(null, await hs256('first'), { now: now(), gracePeriodMs: GRACE });
  const standby = await hs256('standby');
  return { keyset: stageKey(first, standby, now()), kid: standby.kid };
}

const codeOf = (run: () => unknown) => {
  try {
    run();
    return 'none';
  } catch (error) {
    expect(error).toBeInstanceOf(ControlPlaneError);
    return (error as ControlPlaneError).code;
  }
};

describe('promoteTo after its own write landed unseen', () => {
  it('is done when the promotion in place is the one asked for, with or without emergency', async () => {
    const { keyset, kid } = await staged();
    for (const emergency of [false, true]) {
      const updater = promoteTo(kid, { now, gracePeriodMs: GRACE, emergency });
      const written = updater(stored(keyset)) as Keyset;
      expect(written.keys.find((key) => key.kid === kid)?.status).toBe('active');
      // The re-read after the lost swap finds what this call wrote.
      expect(updater(stored(written))).toBeNull();
    }
  });

  it('answers conflict when an emergency was asked for and another call promoted the key without one', async () => {
    const { keyset, kid } = await staged();
    const updater = promoteTo(kid, { now, gracePeriodMs: GRACE, emergency: true });
    updater(stored(keyset));
    const otherCall = promoteKey(keyset, kid, { now: now(), gracePeriodMs: GRACE });
    expect(otherCall.keys.some((key) => key.status === 'previous')).toBe(true);
    expect(codeOf(() => updater(stored(otherCall)))).toBe('conflict');
  });

  it('answers conflict too when the standby key is older than the key the other call demoted', async () => {
    const { keyset, kid } = await staged();
    // A one-step rotation after the staging (without grace, so the first key is gone): the standby key is now
    // older than the active one.
    const rotated = rotateKeyset(keyset, await hs256('rotated'), { now: now(), gracePeriodMs: 0 });
    expect(rotated.keys.map((key) => key.status)).toEqual(['active', 'standby']);
    const updater = promoteTo(kid, { now, gracePeriodMs: GRACE, emergency: true });
    updater(stored(rotated));
    const otherCall = promoteKey(rotated, kid, { now: now(), gracePeriodMs: GRACE });
    expect(codeOf(() => updater(stored(otherCall)))).toBe('conflict');
  });

  it('is done when the emergency promotion is in place and a key was staged since', async () => {
    const { keyset, kid } = await staged();
    const updater = promoteTo(kid, { now, gracePeriodMs: GRACE, emergency: true });
    const written = updater(stored(keyset)) as Keyset;
    const later = stageKey(written, await hs256('later'), now());
    expect(updater(stored(later))).toBeNull();
  });
});

describe('rotateTo after its own write landed unseen', () => {
  it('answers conflict when an emergency was asked for and another call installed the key without one', async () => {
    const first = rotateKeyset(null, await hs256('first'), { now: now(), gracePeriodMs: GRACE });
    const key = await hs256('next');
    const updater = rotateTo({ key, emergency: true }, { now, gracePeriodMs: GRACE });
    const written = updater(stored(first)) as Keyset;
    expect(written.keys).toHaveLength(1);
    expect(updater(stored(written))).toBeNull();
    const fresh = rotateTo({ key, emergency: true }, { now, gracePeriodMs: GRACE });
    fresh(stored(first));
    const otherCall = rotateKeyset(first, key, { now: now(), gracePeriodMs: GRACE });
    expect(codeOf(() => fresh(stored(otherCall)))).toBe('conflict');
  });
});
