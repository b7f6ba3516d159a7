/**
 * The revocation list's rules in the control plane, on a clock the test moves: expiry after REVOCATION_TTL,
 * the size limit, moving the serial above an edge's, and two replicas writing one Valkey at once.
 */
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importVerifier, parseSigningSeed, parseVerifyKeys } from '../../shared/keyset-signing-key.ts';
import { MAX_REVOCATIONS_BYTES, openRevocationList } from '../../shared/revocations.ts';
import { KEYSET_SIGNING_KEY, KEYSET_VERIFY_KEY } from '../../test/support/keysets.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { RevocationLog } from '../src/revocation/revocation-log.ts';
import { EnvStorage } from '../src/storage/env-storage.ts';
import { ValkeyStorage } from '../src/storage/valkey-storage.ts';

const signingKey = parseSigningSeed(KEYSET_SIGNING_KEY);
const HOUR = 3600_000;

function clock(start = Date.UTC(2026, 10, 30, 12)) {
  let now = start;
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('RevocationLog', () => {
  it('drops batches once REVOCATION_TTL has passed, at the next write', async () => {
    const time = clock();
    const log = new RevocationLog({
      storage: new EnvStorage(undefined),
      signingKey,
      ttlMs: HOUR,
      now: time.now,
    });
    const first = (await log.revoke({ jtis: ['a', 'b'], subject: '' }, 'test')).list.serial;
    time.advance(HOUR / 2);
    const second = (await log.revoke({ jtis: [], subject: 'carol' }, 'test')).list.serial;
    expect((await log.current(0)).live).toBe(3);
    time.advance(HOUR / 2 + 1);
    const after = await log.revoke({ jtis: ['c'], subject: '' }, 'test');
    const third = after.list.serial;
    expect(after.list.batches.map((batch) => batch.serial)).toEqual([second, third]);
    expect(after.live).toBe(2);
    // A delta for an edge holding the first serial names only what is live: the expired batch is gone there too.
    const verifiers = await Promise.all(parseVerifyKeys(KEYSET_VERIFY_KEY).map(importVerifier));
    const delta = await openRevocationList((await log.since(first)) as string, verifiers);
    expect(delta).toMatchObject({ serial: third, from: first });
    expect(delta.batches.map((batch) => batch.serial)).toEqual([second, third]);
    expect(await log.since(third)).toBeUndefined();
  });

  it('refuses a revocation that would grow the list past its size limit, keeping the list', async () => {
    const maxBytes = 256 * 1024;
    const storage = new EnvStorage(undefined);
    const log = new RevocationLog({ storage, signingKey, ttlMs: HOUR, maxBytes });
    const batch = Array.from({ length: 200 }, (_, i) => `${i}`.padEnd(256, 'j'));
    let serial = 0;
    let refused: unknown;
    // About 70 KB of base64url a call: refused well before a tenth call.
    for (let call = 0; call < 10 && refused === undefined; call++) {
      try {
        serial = (
          await log.revoke({ jtis: batch.map((jti) => `${call}${jti}`.slice(0, 256)), subject: '' }, 't')
        ).list.serial;
      } catch (error) {
        refused = error;
      }
    }
    expect((refused as { code?: string }).code).toBe('revocations_too_large');
    expect((refused as Error).message).toContain(String(maxBytes));
    expect((await log.current(0)).list.serial).toBe(serial);
    expect((await storage.loadRevocations(0)).document?.length).toBeLessThanOrEqual(maxBytes);
    // What edges take is what the control plane writes by default.
    expect(MAX_REVOCATIONS_BYTES).toBe(16 * 1024 * 1024);
  });

  it('numbers each call by its time, so a list restored from a backup never reuses a serial', async () => {
    const time = clock();
    const storage = new EnvStorage(undefined);
    const log = new RevocationLog({ storage, signingKey, ttlMs: HOUR, now: time.now });
    const first = await log.revoke({ jtis: ['a'], subject: '' }, 'test');
    expect(first.list.serial).toBe(time.now().getTime());
    const backup = await storage.loadRevocations(0);
    // Two calls in one millisecond still get two serials.
    const second = await log.revoke({ jtis: ['b'], subject: '' }, 'test');
    expect(second.list.serial).toBe(first.list.serial + 1);
    // A restore: the stored list goes back to the first call's, while an edge may hold the second's serial.
    const restored = new EnvStorage(undefined);
    await restored.swapRevocations(0, { serial: first.list.serial, document: backup.document });
    time.advance(1000);
    const after = await new RevocationLog({
      storage: restored,
      signingKey,
      ttlMs: HOUR,
      now: time.now,
    }).revoke({ jtis: ['c'], subject: '' }, 'test');
    expect(after.list.serial).toBeGreaterThan(second.list.serial);
  });

  it('refuses to revoke without KEYSET_SIGNING_KEY', async () => {
    const log = new RevocationLog({ storage: new EnvStorage(undefined), ttlMs: HOUR });
    await expect(log.revoke({ jtis: ['a'], subject: '' }, 'test')).rejects.toThrow(/KEYSET_SIGNING_KEY/);
  });
});

describe('RevocationLog, two replicas on one Valkey', () => {
  let valkey: ValkeyServer;
  const storages: ValkeyStorage[] = [];

  beforeAll(async () => {
    valkey = await startValkey();
  }, 30_000);
  afterAll(async () => {
    for (const storage of storages) await storage.close();
    await valkey?.stop();
  });

  async function replica(): Promise<RevocationLog> {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    storages.push(storage);
    return new RevocationLog({ storage, signingKey, ttlMs: HOUR });
  }

  it('follows storage restored from a backup under a running control plane, and numbers the next call above', async () => {
    const log = await replica();
    const admin = new Valkey(valkey.url);
    try {
      await log.revoke({ jtis: ['before-backup'], subject: '' }, 'test');
      const backup = await admin.mget('jwt_secrets:revocation_serial', 'jwt_secrets:revocations');
      const lost = await log.revoke({ jtis: ['after-backup'], subject: '' }, 'test');
      await admin.mset(
        'jwt_secrets:revocation_serial',
        backup[0] as string,
        'jwt_secrets:revocations',
        backup[1] as string,
      );
      // The running log still holds the newer list in its cache; the write swaps against what storage holds.
      const next = await log.revoke({ jtis: ['after-restore'], subject: '' }, 'test');
      expect(next.list.serial).toBeGreaterThan(lost.list.serial);
      expect(next.list.batches.flatMap((batch) => batch.jti)).toEqual(['before-backup', 'after-restore']);
    } finally {
      admin.disconnect();
    }
  });

  it('loses no revocation when both write at once: every call gets its own serial', async () => {
    const [a, b] = [await replica(), await replica()];
    const calls = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).revoke({ jtis: [`jti-${i}`], subject: '' }, 'test'),
    );
    const serials = (await Promise.all(calls)).map((state) => state.list.serial);
    expect(new Set(serials).size).toBe(20);
    const final = await a.current(0);
    expect(final.list.serial).toBe(Math.max(...serials));
    expect(final.list.batches.flatMap((batch) => batch.jti)).toEqual(
      expect.arrayContaining(Array.from({ length: 20 }, (_, i) => `jti-${i}`)),
    );
  });
});
