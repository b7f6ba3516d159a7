import { describe, expect, it } from 'vitest';
import { computeKid } from '../../../shared/kid.ts';
import { putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  seal,
  secret,
  signByHand,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { createEdge } from '../../src/create-edge.ts';

const ACTIVE = secret('grace-active');
const PREVIOUS = secret('grace-previous');
const EXPIRES_AT = Date.parse('2026-06-02T00:00:00Z');

describe('grace period of a previous key (injected clock)', () => {
  it('verifies until expires_at - 1ms, then key_unknown with kid and signature_invalid without', async () => {
    let now = EXPIRES_AT - 3_600_000;
    const edge = createEdge({ env: { ...EDGE_KEYS }, now: () => now, log: () => {} });
    const keyset = await buildKeyset(7, ACTIVE, [{ secret: PREVIOUS, expiresAt: new Date(EXPIRES_AT) }]);
    expect((await putKeyset(edge, await seal(keyset))).status).toBe(200);

    // Token lifetimes far beyond the grace window, so only the key's expiry decides.
    const claims = { sub: 'u', exp: epochSeconds(EXPIRES_AT) + 86_400 };
    const previousKid = await computeKid(PREVIOUS);
    const withKid = await signWithJose(PREVIOUS, claims, { kid: previousKid });
    const withoutKid = await signByHand(PREVIOUS, claims);
    const activeToken = await signByHand(ACTIVE, claims);

    now = EXPIRES_AT - 1;
    expect(await verifyError(edge, withKid)).toBeUndefined();
    expect(await verifyError(edge, withoutKid)).toBeUndefined();

    now = EXPIRES_AT;
    expect(await verifyError(edge, withKid)).toBe('key_unknown');
    expect(await verifyError(edge, withoutKid)).toBe('signature_invalid');
    expect(await verifyError(edge, activeToken)).toBeUndefined();

    now = EXPIRES_AT + 86_400_000;
    expect(await verifyError(edge, withKid)).toBe('key_unknown');
    expect(await verifyError(edge, activeToken)).toBeUndefined();
  });

  it('tokens without kid try the active key first, then the previous one', async () => {
    const edge = createEdge({ env: { ...EDGE_KEYS }, now: () => EXPIRES_AT - 10, log: () => {} });
    const keyset = await buildKeyset(3, ACTIVE, [{ secret: PREVIOUS, expiresAt: new Date(EXPIRES_AT) }]);
    await putKeyset(edge, await seal(keyset));
    const claims = { sub: 'u' };
    const viaActive = await edge.fetch(
      new Request('http://edge.test/verify', {
        method: 'POST',
        headers: { authorization: `Bearer ${await signByHand(ACTIVE, claims)}` },
      }),
    );
    expect(await viaActive.json()).toMatchObject({ valid: true, kid: await computeKid(ACTIVE) });
    const viaPrevious = await edge.fetch(
      new Request('http://edge.test/verify', {
        method: 'POST',
        headers: { authorization: `Bearer ${await signByHand(PREVIOUS, claims)}` },
      }),
    );
    expect(await viaPrevious.json()).toMatchObject({ valid: true, kid: await computeKid(PREVIOUS) });
  });
});
