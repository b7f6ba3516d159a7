import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { highS, signAsym } from '../test/support/asymmetric-by-hand.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../test/support/key-pairs.ts';
import { type KeyRing, prepareKeyRing } from './key-ring.ts';
import { type Keyset, rotateKeyset } from './keyset.ts';
import { computeKid } from './kid.ts';
import { nodeVerify } from './runtime/node-verify.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';
import { type VerifyPrimitive, webCryptoVerify } from './verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions } from './verify-token.ts';

const T0 = Date.parse('2025-06-01T00:00:00.000Z');
const OLD = 'cache-test-old-secret-0123456789abcdefghij';
const ACTIVE = 'cache-test-active-secret-0123456789abcdefg';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

function sign(claims: Record<string, unknown>, secret: string, kid?: string): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function setup(graceMs = 3_600_000) {
  const clock = { now: T0 };
  const oldKid = await computeKid(OLD);
  const activeKid = await computeKid(ACTIVE);
  let keyset: Keyset = rotateKeyset(
    null,
    { secret: OLD, kid: oldKid },
    { now: new Date(T0 - 60_000), gracePeriodMs: graceMs },
  );
  keyset = rotateKeyset(
    keyset,
    { secret: ACTIVE, kid: activeKid },
    { now: new Date(T0), gracePeriodMs: graceMs },
  );
  const ring = await prepareKeyRing(keyset, webCryptoVerify);
  const options: VerifyOptions = {
    algorithms: ['HS256'],
    clockToleranceMs: 0,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    now: () => clock.now,
  };
  return { clock, oldKid, activeKid, keyset, ring, options };
}

/** A ring that counts primitive calls, to tell a cache hit from a verification. */
function counting(ring: KeyRing): { ring: KeyRing; calls: () => number } {
  let calls = 0;
  const primitive = {
    ...ring.primitive,
    verify: (key: unknown, input: string, signature: Uint8Array) => {
      calls++;
      return ring.primitive.verify(key, input, signature);
    },
  };
  return { ring: { ...ring, primitive }, calls: () => calls };
}

describe('VerifiedTokenCache', () => {
  it('answers a repeated valid token from the cache, with the same verdict', async () => {
    const { ring: plain, options, activeKid } = await setup();
    const { ring, calls } = counting(plain);
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'a', exp: T0 / 1000 + 600 }, ACTIVE, activeKid);
    const first = await cache.verify(token, ring);
    const second = await cache.verify(token, ring);
    expect(first).toMatchObject({ valid: true, kid: activeKid, claims: { sub: 'a' } });
    expect(second).toEqual(first);
    expect(calls()).toBe(1);
    expect(cache.stats).toEqual({ hits: 1, misses: 1 });
  });

  it('never caches a failure', async () => {
    const { ring: plain, options, activeKid } = await setup();
    const { ring, calls } = counting(plain);
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const bad = sign({ sub: 'a' }, 'cache-test-stranger-secret-0123456789abcd', activeKid);
    expect(await cache.verify(bad, ring)).toEqual({ valid: false, error: 'signature_invalid' });
    expect(await cache.verify(bad, ring)).toEqual({ valid: false, error: 'signature_invalid' });
    expect(calls()).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('stops serving a token once it expires', async () => {
    const { ring, options, activeKid, clock } = await setup();
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'a', exp: T0 / 1000 + 5 }, ACTIVE, activeKid);
    expect((await cache.verify(token, ring)).valid).toBe(true);
    clock.now = T0 + 5_000;
    expect(await cache.verify(token, ring)).toEqual({ valid: false, error: 'token_expired' });
  });

  it('stops serving a token once its key leaves the grace period', async () => {
    const { ring, options, oldKid, clock } = await setup(10_000);
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'a' }, OLD, oldKid);
    expect((await cache.verify(token, ring)).valid).toBe(true);
    clock.now = T0 + 10_000;
    expect(await cache.verify(token, ring)).toEqual({ valid: false, error: 'key_unknown' });
  });

  it('re-verifies after maxAgeMs', async () => {
    const { ring: plain, options, activeKid, clock } = await setup();
    const { ring, calls } = counting(plain);
    const cache = new VerifiedTokenCache(options, { maxEntries: 10, maxAgeMs: 1_000 });
    const token = sign({ sub: 'a' }, ACTIVE, activeKid);
    await cache.verify(token, ring);
    clock.now = T0 + 999;
    await cache.verify(token, ring);
    expect(calls()).toBe(1);
    clock.now = T0 + 1_000;
    await cache.verify(token, ring);
    expect(calls()).toBe(2);
  });

  it('drops everything when the keyset changes, so a revoked key is not served from the cache', async () => {
    const { ring, options, oldKid, keyset } = await setup();
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'a' }, OLD, oldKid);
    expect((await cache.verify(token, ring)).valid).toBe(true);
    const revoked: Keyset = {
      ...keyset,
      version: keyset.version + 1,
      keys: keyset.keys.filter((k) => k.kid !== oldKid),
    };
    const next = await prepareKeyRing(revoked, webCryptoVerify);
    expect(await cache.verify(token, next)).toEqual({ valid: false, error: 'key_unknown' });
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, evicting the oldest token not used since (second chance)', async () => {
    const { ring: plain, options, activeKid } = await setup();
    const { ring, calls } = counting(plain);
    const cache = new VerifiedTokenCache(options, { maxEntries: 2 });
    const [a, b, c] = ['a', 'b', 'c'].map((sub) => sign({ sub }, ACTIVE, activeKid)) as [
      string,
      string,
      string,
    ];
    await cache.verify(a, ring);
    await cache.verify(b, ring);
    await cache.verify(a, ring); // a is now the most recently used
    await cache.verify(c, ring); // evicts b
    expect(cache.size).toBe(2);
    expect(calls()).toBe(3);
    await cache.verify(a, ring);
    expect(calls()).toBe(3);
    await cache.verify(b, ring);
    expect(calls()).toBe(4);
  });

  it('hands out frozen claims, so one caller cannot alter what the next is told', async () => {
    const { ring, options, activeKid } = await setup();
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'a', roles: ['user'] }, ACTIVE, activeKid);
    const result = await cache.verify(token, ring);
    if (!result.valid) throw new Error('expected a valid token');
    expect(() => {
      (result.claims.roles as string[]).push('admin');
    }).toThrow(TypeError);
  });

  it('rejects bad options when created', async () => {
    const { options } = await setup();
    expect(() => new VerifiedTokenCache(options, { maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new VerifiedTokenCache(options, { maxEntries: 1, maxAgeMs: -1 })).toThrow(/maxAgeMs/);
  });
});

describe('VerifiedTokenCache keys', () => {
  it('misses for a known signature on another header or payload, and keeps the real entry', async () => {
    const { ring: plain, options, activeKid } = await setup();
    const { ring, calls } = counting(plain);
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'user' }, ACTIVE, activeKid);
    const [, , signature] = token.split('.') as [string, string, string];
    expect((await cache.verify(token, ring)).valid).toBe(true);
    const forged = `${sign({ sub: 'admin' }, ACTIVE, activeKid).split('.').slice(0, 2).join('.')}.${signature}`;
    expect(await cache.verify(forged, ring)).toEqual({ valid: false, error: 'signature_invalid' });
    expect(await cache.verify(signature, ring)).toEqual({ valid: false, error: 'token_malformed' });
    expect(calls()).toBe(2);
    expect(await cache.verify(token, ring)).toMatchObject({ valid: true, claims: { sub: 'user' } });
    expect(calls()).toBe(2);
  });

  it('holds at most maxChars of tokens', async () => {
    const { ring, options, activeKid } = await setup();
    const tokens = ['a', 'b', 'c'].map((sub) => sign({ sub }, ACTIVE, activeKid));
    const cache = new VerifiedTokenCache(options, {
      maxEntries: 10,
      maxChars: 2 * (tokens[0] as string).length,
    });
    for (const token of tokens) await cache.verify(token, ring);
    expect(cache.size).toBe(2);
    expect(() => new VerifiedTokenCache(options, { maxEntries: 1, maxChars: 0 })).toThrow(/maxChars/);
  });

  it('answers synchronously on a hit, and on a miss with a synchronous primitive', async () => {
    const { keyset, options, activeKid } = await setup();
    const { nodeVerify } = await import('./runtime/node-verify.ts');
    const ring = await prepareKeyRing(keyset, nodeVerify);
    const cache = new VerifiedTokenCache(options, { maxEntries: 10 });
    const token = sign({ sub: 'a' }, ACTIVE, activeKid);
    const miss = cache.verify(token, ring);
    expect(miss).not.toBeInstanceOf(Promise);
    expect(cache.verify(token, ring)).toBe(miss);
    expect(cache.stats).toEqual({ hits: 1, misses: 1 });
  });
});

describe('VerifiedTokenCache eviction', () => {
  it('keeps the token just verified even with room for one, and stays within bounds under churn', async () => {
    const { ring, options, activeKid } = await setup();
    const one = new VerifiedTokenCache(options, { maxEntries: 1 });
    const [a, b] = ['a', 'b'].map((sub) => sign({ sub }, ACTIVE, activeKid)) as [string, string];
    await one.verify(a, ring);
    await one.verify(a, ring); // a is marked used
    await one.verify(b, ring);
    expect(one.size).toBe(1);
    expect(one.stats).toEqual({ hits: 1, misses: 2 });
    await one.verify(b, ring);
    expect(one.stats.hits).toBe(2);

    const small = new VerifiedTokenCache(options, { maxEntries: 8 });
    const tokens = Array.from({ length: 32 }, (_, i) => sign({ sub: `u${i}` }, ACTIVE, activeKid));
    for (let round = 0; round < 200; round++) {
      const token = tokens[(round * 7) % tokens.length] as string;
      expect((await small.verify(token, ring)).valid).toBe(true);
      expect(small.size).toBeLessThanOrEqual(8);
    }
  });
});

describe('VerifiedTokenCache with ES256 and EdDSA keys', () => {
  const NOW = Date.parse('2026-11-25T12:00:00Z');
  const options = (clock: { now: number }): VerifyOptions => ({
    algorithms: ['HS256', 'ES256', 'EdDSA'],
    clockToleranceMs: 0,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    now: () => clock.now,
  });

  it('caches each S form of an ES256 signature as its own token, and a cached verdict never outlives its key', async () => {
    const expiresAt = new Date(NOW + 60_000);
    const keyset = edgeView(
      await buildMixedKeyset(3, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'previous', expiresAt }]),
    );
    const clock = { now: NOW };
    const { ring, calls } = counting(await prepareKeyRing(keyset, nodeVerify as VerifyPrimitive));
    const cache = new VerifiedTokenCache(options(clock), { maxEntries: 10, maxAgeMs: 3_600_000 });
    const token = signAsym(ES256_PAIR, { alg: 'ES256', kid: ES256_PAIR.kid }, { sub: 'a' });
    const [input, signature] = [token.slice(0, token.lastIndexOf('.')), token.split('.')[2] as string];
    const twin = `${input}.${highS(Buffer.from(signature, 'base64url')).toString('base64url')}`;
    for (const t of [token, twin, token, twin]) {
      expect(await cache.verify(t, ring)).toMatchObject({ valid: true, kid: ES256_PAIR.kid });
    }
    expect(calls()).toBe(2);
    // The cached signature on another payload is no cache hit: the whole signing input must match.
    const other = `${signAsym(ES256_PAIR, { alg: 'ES256', kid: ES256_PAIR.kid }, { sub: 'b' }).split('.').slice(0, 2).join('.')}.${signature}`;
    expect(await cache.verify(other, ring)).toEqual({ valid: false, error: 'signature_invalid' });
    // At the key's expires_at the cached verdict is dropped and the token refused.
    clock.now = expiresAt.getTime();
    expect(await cache.verify(token, ring)).toEqual({ valid: false, error: 'key_unknown' });
    expect(await cache.verify(twin, ring)).toEqual({ valid: false, error: 'key_unknown' });
  });

  it('never serves a cached EdDSA verdict for the same token under a header naming another algorithm', async () => {
    const keyset = edgeView(
      await buildMixedKeyset(2, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'standby' }]),
    );
    const ring = await prepareKeyRing(keyset, nodeVerify as VerifyPrimitive);
    const cache = new VerifiedTokenCache(options({ now: NOW }), { maxEntries: 10 });
    const token = signAsym(EDDSA_PAIR, { alg: 'EdDSA', kid: EDDSA_PAIR.kid }, { sub: 'a' });
    expect(await cache.verify(token, ring)).toMatchObject({ valid: true });
    const signature = token.split('.')[2] as string;
    const claims = token.split('.')[1] as string;
    for (const header of [
      { alg: 'ES256', kid: EDDSA_PAIR.kid },
      { alg: 'ES256', kid: ES256_PAIR.kid },
      { alg: 'EdDSA', kid: ES256_PAIR.kid },
    ]) {
      const swapped = `${b64(header)}.${claims}.${signature}`;
      expect((await cache.verify(swapped, ring)).valid, JSON.stringify(header)).toBe(false);
    }
  });
});
