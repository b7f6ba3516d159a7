/**
 * The revocation list's rules in the control plane, on a clock the test moves: expiry after REVOCATION_TTL,
 * the size limit, moving the serial above an edge's, and two replicas writing one Valkey at once.
 */
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
    await log.revoke({ jtis: ['a', 'b'], subject: '' }, 'test');
    time.advance(HOUR / 2);
    await log.revoke({ jtis: [], subject: 'carol' }, 'test');
    expect((await log.current(0)).live).toBe(3);
    time.advance(HOUR / 2 + 1);
    const after = await log.revoke({ jtis: ['c'], subject: '' }, 'test');
    expect(after.list.serial).toBe(3);
    expect(after.list.batches.map((batch) => batch.serial)).toEqual([2, 3]);
    expect(after.live).toBe(2);
    // A delta for an edge at serial 1 names only what is live: the expired batch 1 is gone there too.
    const verifiers = await Promise.all(parseVerifyKeys(KEYSET_VERIFY_KEY).map(importVerifier));
    const delta = await openRevocationList((await log.since(1)) as string, verifiers);
    expect(delta).toMatchObject({ serial: 3, from: 1 });
    expect(delta.batches.map((batch) => batch.serial)).toEqual([2, 3]);
    expect(await log.since(3)).toBeUndefined();
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

  it('moves the serial above an edge that holds a higher one, keeping the live batches', async () => {
    const log = new RevocationLog({ storage: new EnvStorage(undefined), signingKey, ttlMs: HOUR });
    await log.revoke({ jtis: ['kept'], subject: '' }, 'test');
    const raised = await log.raiseAbove(40);
    expect(raised.list.serial).toBe(41);
    expect(raised.list.batches.flatMap((batch) => batch.jti)).toEqual(['kept']);
    expect((await log.raiseAbove(12)).list.serial).toBe(41);
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

  it('loses no revocation when both write at once: every call gets its own serial', async () => {
    const [a, b] = [await replica(), await replica()];
    const calls = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).revoke({ jtis: [`jti-${i}`], subject: '' }, 'test'),
    );
    const serials = (await Promise.all(calls)).map((state) => state.list.serial);
    expect(new Set(serials).size).toBe(20);
    const final = await a.current(0);
    expect(final.list.serial).toBe(20);
    expect(final.list.batches.flatMap((batch) => batch.jti).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `jti-${i}`).sort(),
    );
  });
});
