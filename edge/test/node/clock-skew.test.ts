/**
 * Clock skew between the control plane (and the token issuer) and an edge, up to CLOCK_TOLERANCE. The signer's clock and the edge's are separate numbers: keysets come from the control plane's own
 * rotateKeyset/pruneKeyset at control-plane time, tokens carry explicit iat/nbf/exp, and the edge is created
 * with a `now` offset from the signer's clock.
 *
 * What the code does, pinned here: CLOCK_TOLERANCE widens the token's own time claims (nbf, exp) on the edge's
 * clock, in both directions, to the millisecond; iat is not a validity claim; a previous key's expires_at is
 * judged on the edge's clock with no tolerance at all, so an edge ahead of the control plane ends the grace
 * period early by its skew and an edge behind ends it late, until the control plane's prune arrives.
 */
import { describe, expect, it } from 'vitest';
import { type Keyset, pruneKeyset, rotateKeyset } from '../../../shared/keyset.ts';
import { sealKeyset } from '../../../shared/keyset-envelope.ts';
import { computeKid } from '../../../shared/kid.ts';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { health, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import { EDGE_KEYS, epochSeconds, sealingKeys, secret, signWithJose } from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';

/** The signer's "now" when the token is issued: a whole second, so that iat/nbf/exp are exact. */
const ISSUED = Date.parse('2026-06-01T12:00:00Z');
const ROTATED = ISSUED - 3_600_000;
const GRACE_MS = 2 * 3_600_000;
/** The previous key's expires_at, as the control plane wrote it: rotation time + grace, control-plane clock. */
const KEY_EXPIRES = ROTATED + GRACE_MS;

const OLD = secret('skew-old');
const NEW = secret('skew-new');

async function controlPlaneKeyset(): Promise<Keyset> {
  const v1 = rotateKeyset(
    null,
    { secret: OLD, kid: await computeKid(OLD) },
    {
      now: new Date(ROTATED - 86_400_000),
      gracePeriodMs: GRACE_MS,
    },
  );
  return rotateKeyset(
    v1,
    { secret: NEW, kid: await computeKid(NEW) },
    { now: new Date(ROTATED), gracePeriodMs: GRACE_MS },
  );
}

/** An edge whose clock reads the control plane's `signerNow()` + `skewMs`, holding `keyset`. */
async function skewedEdge(
  keyset: Keyset,
  signerNow: () => number,
  skewMs: number,
  env: Record<string, string> = {},
): Promise<Edge> {
  const edge = createEdge({
    env: { ...EDGE_KEYS, ...env },
    now: () => signerNow() + skewMs,
    primitive: nodeVerify,
    log: () => {},
  });
  const response = await putKeyset(edge, await sealKeyset(keyset, await sealingKeys()));
  expect(response.status).toBe(200);
  await response.body?.cancel();
  return edge;
}

/** A token issued at ISSUED on the signer's clock: iat = nbf = now, exp in a minute. */
async function issuedNow(kid?: string): Promise<string> {
  const iat = epochSeconds(ISSUED);
  return signWithJose(NEW, { sub: 'skewed', iat, nbf: iat, exp: iat + 60 }, kid === undefined ? {} : { kid });
}

describe('clock skew up to CLOCK_TOLERANCE (default 30s) between signer and edge', () => {
  it('a token issued now verifies at an edge up to 30 s behind, and is token_not_yet_valid 1 ms further', async () => {
    const keyset = await controlPlaneKeyset();
    const token = await issuedNow(await computeKid(NEW));
    const cases: Array<[number, string | undefined]> = [
      [-30_000, undefined],
      [-29_999, undefined],
      [-15_000, undefined],
      [-1, undefined],
      [0, undefined],
      [-30_001, 'token_not_yet_valid'],
      [-31_000, 'token_not_yet_valid'],
      [-3_600_000, 'token_not_yet_valid'],
    ];
    for (const [skew, error] of cases) {
      const edge = await skewedEdge(keyset, () => ISSUED, skew);
      expect(await verifyError(edge, token), `edge ${skew} ms off`).toBe(error);
    }
  });

  it('a token issued now verifies at an edge up to 30 s ahead (and as long as exp + tolerance is ahead of it)', async () => {
    const keyset = await controlPlaneKeyset();
    const token = await issuedNow();
    for (const skew of [1, 15_000, 29_999, 30_000, 30_001, 60_000, 89_999]) {
      const edge = await skewedEdge(keyset, () => ISSUED, skew);
      expect(await verifyError(edge, token), `edge ${skew} ms ahead`).toBeUndefined();
    }
    const edge = await skewedEdge(keyset, () => ISSUED, 90_000);
    expect(await verifyError(edge, token)).toBe('token_expired');
  });

  it('the last millisecond before exp on the signer: verifies at an edge up to 30 s ahead, token_expired beyond', async () => {
    const keyset = await controlPlaneKeyset();
    const token = await issuedNow();
    const lastValidMs = ISSUED + 60_000 - 1;
    for (const skew of [-30_000, 0, 29_999, 30_000]) {
      const edge = await skewedEdge(keyset, () => lastValidMs, skew);
      expect(await verifyError(edge, token), `edge ${skew} ms off`).toBeUndefined();
    }
    for (const skew of [30_001, 31_000, 3_600_000]) {
      const edge = await skewedEdge(keyset, () => lastValidMs, skew);
      expect(await verifyError(edge, token), `edge ${skew} ms ahead`).toBe('token_expired');
    }
  });

  it('every skew in a sweep of -40 s..+40 s in 250 ms steps: valid exactly within the tolerance', async () => {
    const keyset = await controlPlaneKeyset();
    const token = await issuedNow(await computeKid(NEW));
    // Two sweeps, each moving the edge's clock forward only (the verified-token cache, on by default, assumes
    // time does not run backwards; see the last test of this block).
    for (const [signerNow, expected] of [
      [ISSUED, (skew: number) => (skew >= -30_000 ? undefined : 'token_not_yet_valid')],
      [ISSUED + 60_000 - 1, (skew: number) => (skew <= 30_000 ? undefined : 'token_expired')],
    ] as const) {
      let skew = -40_000;
      const edge = await skewedEdge(keyset, () => signerNow + skew, 0);
      for (; skew <= 40_000; skew += 250) {
        expect(await verifyError(edge, token), `signer at ${signerNow}, edge ${skew} ms off`).toBe(
          expected(skew),
        );
      }
    }
  });

  it('CLOCK_TOLERANCE is the bound: 0s makes the edge exact, 90s widens both sides', async () => {
    const keyset = await controlPlaneKeyset();
    const token = await issuedNow();
    const exact = { CLOCK_TOLERANCE: '0s' };
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED, 0, exact), token)).toBeUndefined();
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED, -1, exact), token)).toBe(
      'token_not_yet_valid',
    );
    expect(
      await verifyError(await skewedEdge(keyset, () => ISSUED + 59_999, 0, exact), token),
    ).toBeUndefined();
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED + 59_999, 1, exact), token)).toBe(
      'token_expired',
    );
    const wide = { CLOCK_TOLERANCE: '90s' };
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED, -90_000, wide), token)).toBeUndefined();
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED, -90_001, wide), token)).toBe(
      'token_not_yet_valid',
    );
    expect(
      await verifyError(await skewedEdge(keyset, () => ISSUED + 59_999, 90_000, wide), token),
    ).toBeUndefined();
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED + 59_999, 90_001, wide), token)).toBe(
      'token_expired',
    );
  });

  it('iat is not a validity claim: a token "issued" by a signer an hour ahead verifies (no nbf, as in jose)', async () => {
    const keyset = await controlPlaneKeyset();
    const iat = epochSeconds(ISSUED) + 3600;
    const token = await signWithJose(NEW, { sub: 'future', iat, exp: iat + 60 });
    expect(await verifyError(await skewedEdge(keyset, () => ISSUED, 0), token)).toBeUndefined();
  });

  it('an edge clock that steps back after a verify: the cached verdict stands (nbf is not re-checked on a hit)', async () => {
    const keyset = await controlPlaneKeyset();
    const token = await issuedNow();
    for (const [cache, afterStepBack] of [
      ['0', 'token_not_yet_valid'],
      [undefined, undefined],
    ] as const) {
      let edgeNow = ISSUED;
      const env: Record<string, string> = cache === undefined ? {} : { VERIFY_CACHE_SIZE: cache };
      const edge = await skewedEdge(keyset, () => edgeNow, 0, env);
      expect(await verifyError(edge, token)).toBeUndefined();
      // NTP steps the edge's clock back by a minute: beyond the tolerance for this token's nbf.
      edgeNow = ISSUED - 60_000;
      expect(await verifyError(edge, token), `VERIFY_CACHE_SIZE=${cache ?? 'default'}`).toBe(afterStepBack);
    }
  });

  it('the keyset is taken whatever its issued_at says about the edge clock; its age is on the edge clock', async () => {
    const keyset = { ...(await controlPlaneKeyset()), issued_at: new Date(ISSUED + 30_000).toISOString() };
    const edge = await skewedEdge(keyset, () => ISSUED, -30_000);
    expect(await health(edge)).toMatchObject({ status: 200, body: { keyset_version: 2, keyset_age_s: 0 } });
  });
});

describe("a previous key's expires_at is judged on the edge's clock, without CLOCK_TOLERANCE", () => {
  /** A token signed by the previous key, its own claims far from any limit: only the key's expiry decides. */
  async function oldTokens() {
    const claims = { sub: 'old', iat: epochSeconds(ROTATED) - 60, exp: epochSeconds(KEY_EXPIRES) + 86_400 };
    return {
      withKid: await signWithJose(OLD, claims, { kid: await computeKid(OLD) }),
      withoutKid: await signWithJose(OLD, claims),
    };
  }

  it.each([
    ['0s', 0],
    ['30s', 0],
    ['30s', 30_000],
    ['30s', -30_000],
    ['90s', 25_000],
  ])(
    'CLOCK_TOLERANCE=%s, edge %i ms off: verifies until the edge reads expires_at - 1 ms, not a ms longer',
    async (tolerance, skew) => {
      const keyset = await controlPlaneKeyset();
      expect(Date.parse(keyset.keys[1]?.expires_at as string)).toBe(KEY_EXPIRES);
      const { withKid, withoutKid } = await oldTokens();
      let cpNow = ROTATED;
      const edge = await skewedEdge(keyset, () => cpNow, skew, { CLOCK_TOLERANCE: tolerance });
      // In control-plane time the key stops at KEY_EXPIRES - skew: an edge ahead cuts the grace short by its
      // skew, an edge behind stretches it; CLOCK_TOLERANCE plays no part.
      cpNow = KEY_EXPIRES - skew - 1;
      expect(await verifyError(edge, withKid)).toBeUndefined();
      expect(await verifyError(edge, withoutKid)).toBeUndefined();
      cpNow = KEY_EXPIRES - skew;
      expect(await verifyError(edge, withKid)).toBe('key_unknown');
      expect(await verifyError(edge, withoutKid)).toBe('signature_invalid');
      cpNow = KEY_EXPIRES - skew + 29_999;
      expect(await verifyError(edge, withKid)).toBe('key_unknown');
      // The active key does not care.
      const fresh = await signWithJose(NEW, { sub: 'new', exp: epochSeconds(cpNow + skew) + 60 });
      expect(await verifyError(edge, fresh)).toBeUndefined();
    },
  );

  it("an edge 30 s behind stops the old key when the control plane's prune arrives, at control-plane expiry", async () => {
    const keyset = await controlPlaneKeyset();
    const { withKid, withoutKid } = await oldTokens();
    let cpNow = KEY_EXPIRES - 1;
    const edge = await skewedEdge(keyset, () => cpNow, -30_000);
    expect(await verifyError(edge, withKid)).toBeUndefined();
    cpNow = KEY_EXPIRES;
    // Still in grace on the edge's clock (it reads KEY_EXPIRES - 30 s)...
    expect(await verifyError(edge, withKid)).toBeUndefined();
    // ...until the control plane, on its own clock, prunes the expired key and pushes the next version.
    const pruned = pruneKeyset(keyset, new Date(cpNow));
    expect(pruned.version).toBe(keyset.version + 1);
    expect(pruned.keys.map((key) => key.status)).toEqual(['active']);
    const response = await putKeyset(edge, await sealKeyset(pruned, await sealingKeys()));
    // The answer's time is the edge's clock, 30 s behind the control plane's.
    expect(await response.json()).toEqual({
      version: pruned.version,
      kids: pruned.keys.map((key) => key.kid),
      time: cpNow - 30_000,
      revocations: 0,
    });
    expect(await verifyError(edge, withKid)).toBe('key_unknown');
    expect(await verifyError(edge, withoutKid)).toBe('signature_invalid');
  });
});
