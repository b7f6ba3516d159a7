import { createHash } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { EDDSA_PAIR, ES256_PAIR } from '../test/support/key-pairs.ts';
import { KeywardError } from './errors.ts';
import { generateKeyPair } from './generate-key-pair.ts';
import { prepareKeyRing } from './key-ring.ts';
import {
  activeKey,
  findStandbyKey,
  type HmacKeyEntry,
  type Keyset,
  legacyActiveSecret,
  MIN_SECRET_BYTES,
  nextExpiry,
  promoteKey,
  pruneKeyset,
  publicKeyset,
  revokeKey,
  rotateKeyset,
  signingJwk,
  stageKey,
} from './keyset.ts';
import { computeKid } from './kid.ts';
import { nodeVerify } from './runtime/node-verify.ts';
import { type VerifyPrimitive, webCryptoVerify } from './verify-primitive.ts';
import { verifyToken } from './verify-token.ts';

const HOUR = 3_600_000;
const GRACE = 24 * HOUR;
const T0 = Date.parse('2025-01-01T00:00:00.000Z');

/** A secret of at least 32 bytes, distinct per index. */
const secretN = (n: number) => `test-secret-${String(n).padStart(4, '0')}-${'x'.repeat(32)}`;

async function next(secret: string) {
  return { secret, kid: await computeKid(secret) };
}

function errorCode(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof KeywardError) return error.code;
    throw error;
  }
  return undefined;
}

describe('rotateKeyset', () => {
  it('creates version 1 with one active key on the first rotation', async () => {
    const now = new Date(T0);
    const keyset = rotateKeyset(null, await next(secretN(1)), { now, gracePeriodMs: GRACE });
    expect(keyset.version).toBe(1);
    expect(keyset.issued_at).toBe(now.toISOString());
    expect(keyset.keys).toHaveLength(1);
    const [key] = keyset.keys;
    expect(key).toMatchObject({
      kid: await computeKid(secretN(1)),
      alg: 'HS256',
      k: Buffer.from(secretN(1), 'utf8').toString('base64url'),
      status: 'active',
      created_at: now.toISOString(),
      expires_at: null,
      version: 1,
    });
  });

  it('demotes the active key to previous with expires_at = now + grace', async () => {
    const first = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    const now = new Date(T0 + 5 * HOUR);
    const second = rotateKeyset(first, await next(secretN(2)), { now, gracePeriodMs: GRACE });
    expect(second.version).toBe(2);
    expect(second.keys.map((k) => [k.kid, k.status, k.version])).toEqual([
      [await computeKid(secretN(2)), 'active', 2],
      [await computeKid(secretN(1)), 'previous', 1],
    ]);
    expect(second.keys[1]?.expires_at).toBe(new Date(now.getTime() + GRACE).toISOString());
    expect(second.keys[1]?.created_at).toBe(new Date(T0).toISOString());
    expect(activeKey(second).expires_at).toBeNull();
    // The input is not mutated.
    expect(first.keys[0]?.status).toBe('active');
    expect(first.version).toBe(1);
  });

  it('prunes previous keys whose grace has ended during a rotation', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(2)), { now: new Date(T0 + HOUR), gracePeriodMs: GRACE });
    // secretN(1) expires at T0 + 25h; rotate exactly then: it is gone.
    keyset = rotateKeyset(keyset, await next(secretN(3)), {
      now: new Date(T0 + 25 * HOUR),
      gracePeriodMs: GRACE,
    });
    expect(keyset.keys.map((k) => k.version)).toEqual([3, 2]);
    expect(keyset.version).toBe(3);
  });

  it('drops the superseded key (and every earlier one still in grace) at once in an emergency', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(2)), { now: new Date(T0 + HOUR), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(3)), {
      now: new Date(T0 + 2 * HOUR),
      gracePeriodMs: GRACE,
      emergency: true,
    });
    const kids = keyset.keys.map((k) => k.kid);
    expect(kids).not.toContain(await computeKid(secretN(2)));
    // Emergency: the secret is presumed leaked, so no earlier key keeps verifying (commit f9bbfb9).
    expect(kids).toEqual([await computeKid(secretN(3))]);
    expect(activeKey(keyset).version).toBe(3);
    expect(keyset.version).toBe(3);
  });

  it('refuses a secret already in the keyset (secret_reused), active or previous', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(2)), { now: new Date(T0 + 1), gracePeriodMs: GRACE });
    const options = { now: new Date(T0 + 2), gracePeriodMs: GRACE };
    const reuseActive = await next(secretN(2));
    const reusePrevious = await next(secretN(1));
    expect(errorCode(() => rotateKeyset(keyset, reuseActive, options))).toBe('secret_reused');
    expect(errorCode(() => rotateKeyset(keyset, reusePrevious, options))).toBe('secret_reused');
  });

  it('refuses secrets shorter than 32 UTF-8 bytes (secret_too_weak), counting bytes not characters', async () => {
    const options = { now: new Date(T0), gracePeriodMs: GRACE };
    expect(MIN_SECRET_BYTES).toBe(32);
    const tooShort = 'a'.repeat(31);
    expect(errorCode(() => rotateKeyset(null, { secret: tooShort, kid: 'x' }, options))).toBe(
      'secret_too_weak',
    );
    expect(errorCode(() => rotateKeyset(null, { secret: '', kid: 'x' }, options))).toBe('secret_too_weak');
    expect(rotateKeyset(null, await next('a'.repeat(32)), options).version).toBe(1);
    // 16 two-byte characters are 32 bytes: strong enough, although the string has 16 characters.
    const twoByte = 'é'.repeat(16);
    expect(twoByte.length).toBe(16);
    expect((rotateKeyset(null, await next(twoByte), options).keys[0] as HmacKeyEntry).k).toBe(
      Buffer.from(twoByte, 'utf8').toString('base64url'),
    );
    // 15 of them are 30 bytes: too weak, whatever the character count.
    expect(errorCode(() => rotateKeyset(null, { secret: 'é'.repeat(15), kid: 'x' }, options))).toBe(
      'secret_too_weak',
    );
    // 31 ASCII + 1 two-byte character: 33 bytes, 32 characters: accepted.
    expect(rotateKeyset(null, await next(`${'a'.repeat(31)}é`), options).version).toBe(1);
    // 8 four-byte characters: 32 bytes from 16 UTF-16 code units.
    expect(rotateKeyset(null, await next('🔑'.repeat(8)), options).version).toBe(1);
    expect(errorCode(() => rotateKeyset(null, { secret: '🔑'.repeat(7), kid: 'x' }, options))).toBe(
      'secret_too_weak',
    );
  });

  it('runs ten rotations with a fake clock advancing hours (dex style)', async () => {
    const grace = 5 * HOUR;
    const step = 2 * HOUR;
    let now = T0;
    let keyset: Keyset | null = null;
    const versions: number[] = [];
    const secretVersions: number[] = [];
    for (let i = 1; i <= 10; i++) {
      now += step;
      keyset = rotateKeyset(keyset, await next(secretN(i)), { now: new Date(now), gracePeriodMs: grace });
      versions.push(keyset.version);
      secretVersions.push(activeKey(keyset).version);
      expect(activeKey(keyset).kid).toBe(await computeKid(secretN(i)));
      expect(keyset.keys.filter((k) => k.status === 'active')).toHaveLength(1);
      const previous = keyset.keys.filter((k) => k.status === 'previous');
      // Every previous key is still within its grace period...
      for (const key of previous) expect(Date.parse(key.expires_at as string)).toBeGreaterThan(now);
      // ...and no more of them than fit in the grace period: superseded at now, now - 2h, now - 4h.
      expect(previous.length).toBeLessThanOrEqual(Math.ceil(grace / step));
      // Superseded 0h, 2h and 4h ago are in grace; 6h ago is not.
      expect(previous.map((k) => k.version)).toEqual([i - 1, i - 2, i - 3].filter((v) => v >= 1));
      // Newest first.
      const order = keyset.keys.map((k) => k.version);
      expect(order).toEqual([...order].sort((a, b) => b - a));
    }
    for (let i = 1; i < versions.length; i++) {
      expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
      expect(secretVersions[i]).toBeGreaterThan(secretVersions[i - 1] as number);
    }
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('never reuses a secret version after emergency rotations and revocations', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    const seen = new Set([activeKey(keyset).version]);
    for (let i = 2; i <= 8; i++) {
      const now = new Date(T0 + i * HOUR);
      keyset = rotateKeyset(keyset, await next(secretN(i)), {
        now,
        gracePeriodMs: GRACE,
        emergency: i % 2 === 0,
      });
      const previous = keyset.keys.find((k) => k.status === 'previous');
      if (previous && i % 3 === 0) keyset = revokeKey(keyset, previous.kid, now);
      const version = activeKey(keyset).version;
      expect(seen.has(version)).toBe(false);
      seen.add(version);
    }
  });
});

describe('pruneKeyset', () => {
  it('returns the same object when nothing expired', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    expect(pruneKeyset(keyset, new Date(T0 + 1000 * GRACE))).toBe(keyset);
    keyset = rotateKeyset(keyset, await next(secretN(2)), { now: new Date(T0), gracePeriodMs: GRACE });
    expect(pruneKeyset(keyset, new Date(T0 + GRACE - 1))).toBe(keyset);
  });

  it('drops expired previous keys and raises the version', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(2)), { now: new Date(T0), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(3)), { now: new Date(T0 + HOUR), gracePeriodMs: GRACE });
    expect(nextExpiry(keyset)?.getTime()).toBe(T0 + GRACE);
    const now = new Date(T0 + GRACE);
    const pruned = pruneKeyset(keyset, now);
    expect(pruned).not.toBe(keyset);
    expect(pruned.version).toBe(keyset.version + 1);
    expect(pruned.issued_at).toBe(now.toISOString());
    expect(pruned.keys.map((k) => k.version)).toEqual([3, 2]);
    expect(nextExpiry(pruned)?.getTime()).toBe(T0 + HOUR + GRACE);
    const all = pruneKeyset(pruned, new Date(T0 + HOUR + GRACE));
    expect(all.keys.map((k) => k.status)).toEqual(['active']);
    expect(nextExpiry(all)).toBeNull();
  });
});

describe('revokeKey', () => {
  it('drops a previous key, refuses unknown kids and the active key', async () => {
    let keyset = rotateKeyset(null, await next(secretN(1)), { now: new Date(T0), gracePeriodMs: GRACE });
    keyset = rotateKeyset(keyset, await next(secretN(2)), { now: new Date(T0), gracePeriodMs: GRACE });
    const now = new Date(T0 + HOUR);
    expect(errorCode(() => revokeKey(keyset, 'no-such-kid', now))).toBe('key_not_found');
    expect(errorCode(() => revokeKey(keyset, activeKey(keyset).kid, now))).toBe('key_is_active');
    const revoked = revokeKey(keyset, await computeKid(secretN(1)), now);
    expect(revoked.version).toBe(keyset.version + 1);
    expect(revoked.issued_at).toBe(now.toISOString());
    expect(revoked.keys.map((k) => k.kid)).toEqual([await computeKid(secretN(2))]);
    // Revoking it again: it is gone.
    expect(errorCode(() => revokeKey(revoked, keyset.keys[1]?.kid as string, now))).toBe('key_not_found');
  });
});

describe('computeKid', () => {
  it('is the RFC 7638 thumbprint of {"k","kty":"oct"}, computed by hand', async () => {
    for (const secret of [secretN(1), 'é'.repeat(16), 'a'.repeat(32), 'Zm9vYmFy/+=='.repeat(4)]) {
      const k = Buffer.from(secret, 'utf8').toString('base64url');
      // Members in lexicographic order, no whitespace (RFC 7638 section 3.3).
      const canonical = `{"k":"${k}","kty":"oct"}`;
      const expected = createHash('sha256').update(canonical, 'utf8').digest('base64url');
      expect(await computeKid(secret)).toBe(expected);
    }
  });

  it('uses the secret text as given, not base64-decoded', async () => {
    const secret = Buffer.alloc(48, 7).toString('base64'); // like `openssl rand -base64 48`
    const asText = createHash('sha256')
      .update(`{"k":"${Buffer.from(secret, 'utf8').toString('base64url')}","kty":"oct"}`)
      .digest('base64url');
    expect(await computeKid(secret)).toBe(asText);
  });
});

describe('the key lifecycle with ES256 and EdDSA keys', () => {
  const es = ES256_PAIR;
  const ed = EDDSA_PAIR;
  const at = (hours: number) => new Date(T0 + hours * HOUR);
  const statusOf = (keyset: Keyset) => keyset.keys.map((key) => [key.alg, key.status]);

  /** The migration an operator runs: HS256 only, EdDSA staged, ES256 rotated in, EdDSA promoted. */
  async function migration() {
    const hs = rotateKeyset(null, await next(secretN(1)), { now: at(0), gracePeriodMs: GRACE });
    const staged = stageKey(hs, ed, at(1));
    const rotated = rotateKeyset(staged, es, { now: at(2), gracePeriodMs: GRACE });
    const promoted = promoteKey(rotated, ed.kid, { now: at(3), gracePeriodMs: GRACE });
    return { hs, staged, rotated, promoted };
  }

  it('stageKey adds a standby key after the active one; it keeps d in the control plane copy', async () => {
    const { hs, staged } = await migration();
    expect(staged.version).toBe(hs.version + 1);
    expect(staged.issued_at).toBe(at(1).toISOString());
    expect(statusOf(staged)).toEqual([
      ['HS256', 'active'],
      ['EdDSA', 'standby'],
    ]);
    expect(staged.keys[1]).toEqual({
      kid: ed.kid,
      alg: 'EdDSA',
      kty: 'OKP',
      crv: 'Ed25519',
      x: ed.x,
      d: ed.d,
      status: 'standby',
      created_at: at(1).toISOString(),
      expires_at: null,
      version: 2,
    });
    expect(findStandbyKey(staged)?.kid).toBe(ed.kid);
    expect(activeKey(staged).alg).toBe('HS256');
  });

  it('rotateKeyset installs a key pair as active, demotes the HS256 key with grace, and leaves the standby key standby', async () => {
    const { rotated } = await migration();
    expect(statusOf(rotated)).toEqual([
      ['ES256', 'active'],
      ['EdDSA', 'standby'],
      ['HS256', 'previous'],
    ]);
    expect(rotated.keys[0]).toMatchObject({ kid: es.kid, x: es.x, expires_at: null, version: 3 });
    expect(rotated.keys[2]?.expires_at).toBe(new Date(at(2).getTime() + GRACE).toISOString());
    expect(rotated.keys[1]).toMatchObject({ status: 'standby', expires_at: null });
  });

  it('promoteKey makes the standby key active and demotes the active key with expires_at = now + grace', async () => {
    const { rotated, promoted } = await migration();
    expect(promoted.version).toBe(rotated.version + 1);
    expect(statusOf(promoted)).toEqual([
      ['EdDSA', 'active'],
      ['ES256', 'previous'],
      ['HS256', 'previous'],
    ]);
    expect(promoted.keys[0]).toMatchObject({ kid: ed.kid, expires_at: null, version: 2 });
    expect(promoted.keys[1]?.expires_at).toBe(new Date(at(3).getTime() + GRACE).toISOString());
    expect(findStandbyKey(promoted)).toBeUndefined();
    // With a grace period of zero the demoted key is gone at once.
    const now = promoteKey(rotated, ed.kid, { now: at(3), gracePeriodMs: 0 });
    expect(statusOf(now)).toEqual([
      ['EdDSA', 'active'],
      ['HS256', 'previous'],
    ]);
  });

  it('an emergency promotion or rotation drops every earlier key, a standby key too', async () => {
    const { rotated } = await migration();
    const promoted = promoteKey(rotated, ed.kid, { now: at(3), gracePeriodMs: GRACE, emergency: true });
    expect(statusOf(promoted)).toEqual([['EdDSA', 'active']]);
    expect(legacyActiveSecret(promoted)).toBeNull();
    const third = await generateKeyPair('ES256');
    const rotatedAgain = rotateKeyset(rotated, third, { now: at(3), gracePeriodMs: GRACE, emergency: true });
    expect(statusOf(rotatedAgain)).toEqual([['ES256', 'active']]);
    expect(rotatedAgain.keys[0]?.kid).toBe(third.kid);
    // Without emergency the standby key stays.
    const kept = rotateKeyset(rotated, third, { now: at(3), gracePeriodMs: GRACE });
    expect(statusOf(kept)).toEqual([
      ['ES256', 'active'],
      ['EdDSA', 'standby'],
      ['ES256', 'previous'],
      ['HS256', 'previous'],
    ]);
  });

  it('refuses a second standby key (standby_exists), a kid already held (secret_reused), and a weak HS256 secret', async () => {
    const { staged, promoted } = await migration();
    const before = JSON.stringify(staged);
    expect(errorCode(() => stageKey(staged, es, at(2)))).toBe('standby_exists');
    expect(errorCode(() => stageKey(staged, { secret: secretN(9), kid: 'k9' }, at(2)))).toBe(
      'standby_exists',
    );
    expect(errorCode(() => stageKey(promoted, ed, at(4)))).toBe('secret_reused');
    expect(errorCode(() => stageKey(promoted, es, at(4)))).toBe('secret_reused');
    const weak = await next('short');
    expect(errorCode(() => stageKey(promoted, weak, at(4)))).toBe('secret_too_weak');
    expect(JSON.stringify(staged)).toBe(before);
    // Once the standby key is promoted, the next one can be staged, of any algorithm.
    const hsStandby = stageKey(promoted, await next(secretN(2)), at(4));
    expect(statusOf(hsStandby)[1]).toEqual(['HS256', 'standby']);
  });

  it('promoteKey refuses the active key and previous keys (key_not_standby) and unknown kids (key_not_found)', async () => {
    const { promoted } = await migration();
    const options = { now: at(4), gracePeriodMs: GRACE };
    expect(errorCode(() => promoteKey(promoted, ed.kid, options))).toBe('key_not_standby');
    expect(errorCode(() => promoteKey(promoted, es.kid, options))).toBe('key_not_standby');
    const hsKid = promoted.keys[2]?.kid as string;
    expect(errorCode(() => promoteKey(promoted, hsKid, options))).toBe('key_not_standby');
    expect(errorCode(() => promoteKey(promoted, 'no-such-kid', options))).toBe('key_not_found');
    expect(errorCode(() => promoteKey(promoted, '', options))).toBe('key_not_found');
  });

  it('legacyActiveSecret at each step: the HS256 secret, kept while it is a previous key, null once it is gone', async () => {
    const { hs, staged, rotated, promoted } = await migration();
    for (const keyset of [hs, staged, rotated, promoted]) expect(legacyActiveSecret(keyset)).toBe(secretN(1));
    // The HS256 key's grace ends 24 h after at(2); pruning then removes it and the legacy key with it.
    expect(pruneKeyset(promoted, new Date(at(2).getTime() + GRACE - 1))).toBe(promoted);
    const pruned = pruneKeyset(promoted, new Date(at(2).getTime() + GRACE));
    expect(statusOf(pruned)).toEqual([
      ['EdDSA', 'active'],
      ['ES256', 'previous'],
    ]);
    expect(legacyActiveSecret(pruned)).toBeNull();
    // Two HS256 previous keys: the newest one (by key version) is the legacy secret.
    const two = rotateKeyset(hs, await next(secretN(2)), { now: at(1), gracePeriodMs: GRACE });
    const asym = rotateKeyset(two, es, { now: at(2), gracePeriodMs: GRACE });
    expect(legacyActiveSecret(asym)).toBe(secretN(2));
    // An HS256 key back as active wins over previous ones.
    const back = rotateKeyset(asym, await next(secretN(3)), { now: at(3), gracePeriodMs: GRACE });
    expect(legacyActiveSecret(back)).toBe(secretN(3));
    // A standby HS256 key is not the legacy secret: nothing signs with it yet.
    const standbyOnly = stageKey(pruned, await next(secretN(4)), at(30));
    expect(legacyActiveSecret(standbyOnly)).toBeNull();
  });

  it('signingJwk is the active key as a private JWK for each algorithm, and signs tokens the edge view verifies', async () => {
    const { hs, rotated, promoted } = await migration();
    expect(signingJwk(hs)).toEqual({
      kty: 'oct',
      k: Buffer.from(secretN(1), 'utf8').toString('base64url'),
      kid: await computeKid(secretN(1)),
      alg: 'HS256',
    });
    const { alg: _esAlg, ...esJwk } = es;
    expect(signingJwk(rotated)).toEqual({ ...esJwk, alg: 'ES256' });
    const { alg: _edAlg, ...edJwk } = ed;
    expect(signingJwk(promoted)).toEqual({ ...edJwk, alg: 'EdDSA' });
    for (const keyset of [hs, rotated, promoted]) {
      const jwk = signingJwk(keyset);
      const token = await new SignJWT({ sub: 'issuer' })
        .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
        .sign(await importJWK(jwk, jwk.alg));
      for (const primitive of [nodeVerify, webCryptoVerify] as VerifyPrimitive[]) {
        const ring = await prepareKeyRing(publicKeyset(keyset), primitive);
        const options = {
          algorithms: ['HS256', 'ES256', 'EdDSA'] as const,
          clockToleranceMs: 0,
          maxTokenBytes: 8192,
        };
        expect(await verifyToken(token, ring, { ...options, now: () => at(3).getTime() })).toMatchObject({
          valid: true,
          kid: jwk.kid,
        });
      }
    }
  });

  it('signingJwk refuses an asymmetric active key without d (keyset_invalid), and a keyset without active key', async () => {
    const { rotated, promoted } = await migration();
    for (const keyset of [rotated, promoted]) {
      expect(errorCode(() => signingJwk(publicKeyset(keyset)))).toBe('keyset_invalid');
    }
    expect(errorCode(() => signingJwk({ ...promoted, keys: promoted.keys.slice(1) }))).toBe('keyset_invalid');
  });

  it('publicKeyset strips every d without touching its input, and returns the same object when there is none', async () => {
    const { hs, staged, promoted } = await migration();
    expect(publicKeyset(hs)).toBe(hs);
    for (const keyset of [staged, promoted]) {
      const copy = JSON.stringify(keyset);
      const open = publicKeyset(keyset);
      expect(JSON.stringify(open)).not.toContain('"d"');
      expect(JSON.stringify(open)).not.toContain(ed.d);
      expect(JSON.stringify(keyset)).toBe(copy);
      expect(open.keys.map((key) => key.kid)).toEqual(keyset.keys.map((key) => key.kid));
      expect(publicKeyset(open)).toBe(open);
    }
  });
});
