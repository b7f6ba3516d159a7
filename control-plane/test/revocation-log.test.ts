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
import {
  COMPACT_AFTER_DELTAS,
  type RevocationFold,
  RevocationLog,
} from '../src/revocation/revocation-log.ts';
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
    await log.settled();
    const stored = await storage.loadRevocations(0);
    expect(stored.serial).toBe(serial);
    expect(stored.snapshot?.length).toBeLessThanOrEqual(maxBytes);
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
    expect(backup).toMatchObject({ serial: first.list.serial, snapshot: null, deltas: [expect.any(String)] });
    await restored.appendRevocations(0, { serial: first.list.serial, document: backup.deltas[0] as string });
    time.advance(1000);
    const after = await new RevocationLog({
      storage: restored,
      signingKey,
      ttlMs: HOUR,
      now: time.now,
    }).revoke({ jtis: ['c'], subject: '' }, 'test');
    expect(after.list.serial).toBeGreaterThan(second.list.serial);
  });

  it('stores each call as its own signed delta, and folds them into the snapshot once they add up', async () => {
    const storage = new EnvStorage(undefined);
    const folds: RevocationFold[] = [];
    const log = new RevocationLog({ storage, signingKey, ttlMs: HOUR, onFold: (fold) => folds.push(fold) });
    // 10,000 UUIDs are about 530 KB of snapshot: COMPACT_AFTER_DELTAS one-jti deltas stay under a quarter of it.
    const many = Array.from({ length: 10_000 }, () => crypto.randomUUID());
    await log.revoke({ jtis: many, subject: '' }, 'test');
    await log.settled();
    const folded = await storage.loadRevocations(0);
    expect(folded.deltas).toEqual([]);
    const snapshot = folded.snapshot as string;
    expect(snapshot.length).toBeGreaterThan(500_000);

    for (let call = 0; call < 10; call++) await log.revoke({ jtis: [`one-${call}`], subject: '' }, 'test');
    await log.settled();
    const stored = await storage.loadRevocations(0);
    // Ten calls wrote ten small documents and left the snapshot alone.
    expect(stored.snapshot).toBe(snapshot);
    expect(stored.deltas).toHaveLength(10);
    for (const delta of stored.deltas) expect(delta.length).toBeLessThan(1_000);
    // Another process reads the same list from the snapshot and the deltas.
    const reader = new RevocationLog({ storage, signingKey, ttlMs: HOUR });
    const held = (await log.current(0)).list;
    const read = (await reader.current(0)).list;
    expect(read.serial).toBe(held.serial);
    expect(read.batches).toEqual(held.batches);
    expect((await reader.current(0)).live).toBe(10_010);

    // COMPACT_AFTER_DELTAS calls fold the deltas however small they are.
    for (let call = 10; call < COMPACT_AFTER_DELTAS - 1; call++) {
      await log.revoke({ jtis: [`one-${call}`], subject: '' }, 'test');
    }
    await log.settled();
    expect((await storage.loadRevocations(0)).deltas).toHaveLength(COMPACT_AFTER_DELTAS - 1);
    await log.revoke({ jtis: [`one-${COMPACT_AFTER_DELTAS - 1}`], subject: '' }, 'test');
    await log.settled();
    const after = await storage.loadRevocations(0);
    expect(after.deltas).toEqual([]);
    const verifiers = await Promise.all(parseVerifyKeys(KEYSET_VERIFY_KEY).map(importVerifier));
    const list = await openRevocationList(after.snapshot as string, verifiers);
    expect(list.serial).toBe((await log.current(0)).list.serial);
    expect(folds).toHaveLength(2);
    expect(folds[1]).toMatchObject({
      serial: list.serial,
      deltas: COMPACT_AFTER_DELTAS,
      bytes: (after.snapshot as string).length,
    });
    expect(list.batches.flatMap((batch) => batch.jti)).toHaveLength(10_000 + COMPACT_AFTER_DELTAS);
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

  /** A control plane's log on the shared Valkey; `onLoad` hears the serial of each read of the list. */
  async function replica(
    onWarning?: (message: string) => void,
    onLoad?: (since: number) => void,
  ): Promise<RevocationLog> {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    storages.push(storage);
    const load = storage.loadRevocations.bind(storage);
    storage.loadRevocations = (since) => {
      onLoad?.(since);
      return load(since);
    };
    return new RevocationLog({ storage, signingKey, ttlMs: HOUR, onWarning });
  }

  it('follows storage restored from a backup under a running control plane, and numbers the next call above', async () => {
    const log = await replica();
    const admin = new Valkey(valkey.url);
    try {
      await log.revoke({ jtis: ['before-backup'], subject: '' }, 'test');
      // A backup holds every key of the list together, as an RDB or AOF file does.
      const keys = [
        'jwt_secrets:revocation_serial',
        'jwt_secrets:revocations',
        'jwt_secrets:revocation_deltas',
      ];
      const backup = await Promise.all(keys.map((key) => admin.dumpBuffer(key)));
      const lost = await log.revoke({ jtis: ['after-backup'], subject: '' }, 'test');
      await admin.del(...keys);
      for (const [index, dump] of backup.entries()) {
        if (dump !== null) await admin.restore(keys[index] as string, 0, dump);
      }
      // The running log still holds the newer list in its cache; the write swaps against what storage holds.
      const next = await log.revoke({ jtis: ['after-restore'], subject: '' }, 'test');
      expect(next.list.serial).toBeGreaterThan(lost.list.serial);
      expect(next.list.batches.flatMap((batch) => batch.jti)).toEqual(['before-backup', 'after-restore']);
    } finally {
      admin.disconnect();
    }
  });

  it('numbers a call after a restore above every serial it saw before, even within one millisecond', async () => {
    const storage = new ValkeyStorage({ url: valkey.url });
    await storage.connect();
    storages.push(storage);
    const admin = new Valkey(valkey.url);
    const keys = [
      'jwt_secrets:revocation_serial',
      'jwt_secrets:revocations',
      'jwt_secrets:revocation_deltas',
    ];
    try {
      await admin.del(...keys);
      // A clock that stands still: every serial comes from the count, none from the time.
      const frozen = new Date(Date.UTC(2020, 0, 1));
      const log = new RevocationLog({ storage, signingKey, ttlMs: 100 * 365 * 24 * HOUR, now: () => frozen });
      await log.revoke({ jtis: ['kept'], subject: '' }, 'test');
      const backup = await Promise.all(keys.map((key) => admin.dumpBuffer(key)));
      // An edge takes this call's list, then storage goes back to the backup.
      const lost = await log.revoke({ jtis: ['lost'], subject: '' }, 'test');
      await admin.del(...keys);
      for (const [index, dump] of backup.entries()) {
        if (dump !== null) await admin.restore(keys[index] as string, 0, dump);
      }
      const next = await log.revoke({ jtis: ['next'], subject: '' }, 'test');
      // Numbered as the lost call was, an edge holding that list would take this one as already held.
      expect(next.list.serial).toBe(lost.list.serial + 1);
      expect(next.list.batches.flatMap((batch) => batch.jti)).toEqual(['kept', 'next']);
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

  it('follows the other replica by its deltas, and reads the whole list once those it lacks were folded in', async () => {
    const [a, b] = [await replica(), await replica()];
    const admin = new Valkey(valkey.url);
    try {
      await a.revoke({ jtis: ['first'], subject: '' }, 'test');
      await b.current(0);
      await a.revoke({ jtis: ['second'], subject: '' }, 'test');
      expect((await b.current(0)).list.batches.flatMap((batch) => batch.jti)).toContain('second');
      // The snapshot's length before a large call, and after it: a call of one jti leaves it alone.
      await a.revoke({ jtis: Array.from({ length: 2_000 }, () => crypto.randomUUID()), subject: '' }, 'test');
      await a.settled();
      const snapshotBytes = await admin.strlen('jwt_secrets:revocations');
      expect(snapshotBytes).toBeGreaterThan(100_000);
      expect(await admin.zcard('jwt_secrets:revocation_deltas')).toBe(0);
      await a.revoke({ jtis: ['last'], subject: '' }, 'test');
      expect(await admin.strlen('jwt_secrets:revocations')).toBe(snapshotBytes);
      const [delta] = await admin.zrange('jwt_secrets:revocation_deltas', 0, -1);
      expect((delta as string).length).toBeLessThan(1_000);
      // b holds the second call's serial; the delta above it starts at the large call's, which is in the snapshot.
      const [held, read] = [(await a.current(0)).list, (await b.current(0)).list];
      expect(read.serial).toBe(held.serial);
      expect(read.batches).toEqual(held.batches);
    } finally {
      admin.disconnect();
    }
  });

  it('warns of revocations missing from storage, and folds what is left into one snapshot for every reader', async () => {
    const admin = new Valkey(valkey.url);
    const deltas = 'jwt_secrets:revocation_deltas';
    try {
      await admin.del('jwt_secrets:revocation_serial', 'jwt_secrets:revocations', deltas);
      const writer = await replica();
      const serials: number[] = [];
      for (const jti of ['one', 'two', 'three', 'four']) {
        serials.push((await writer.revoke({ jtis: [jti], subject: '' }, 'test')).list.serial);
      }
      // Storage loses the second call's delta (evicted, or restored in part): the chain breaks after the first.
      await admin.zremrangebyscore(deltas, serials[1] as number, serials[1] as number);
      const warnings: string[] = [];
      const reader = await replica((message) => warnings.push(message));
      const read = (await reader.current(0)).list;
      expect(read.serial).toBe(serials[3]);
      expect(read.batches.flatMap((batch) => batch.jti)).toEqual(['one', 'three', 'four']);
      expect(warnings).toEqual([
        expect.stringContaining(
          `misses the RevokeTokens calls above serial ${serials[0]} up to ${serials[1]}`,
        ),
      ]);
      // The reader folded at once: one snapshot, no break left, and a second reader finds nothing to warn of.
      await reader.settled();
      expect(await admin.zcard(deltas)).toBe(0);
      const again: string[] = [];
      expect((await (await replica((message) => again.push(message))).current(0)).list.batches).toEqual(
        read.batches,
      );
      expect(again).toEqual([]);

      // The newest delta lost: the stored serial is above every delta, so the fold waits for the next call's.
      const fifth = (await writer.revoke({ jtis: ['five'], subject: '' }, 'test')).list.serial;
      await admin.zremrangebyscore(deltas, fifth, fifth);
      const snapshot = await admin.get('jwt_secrets:revocations');
      const late = await replica((message) => warnings.push(message));
      expect((await late.current(0)).list.serial).toBe(fifth);
      expect(warnings.at(-1)).toContain(`above serial ${serials[3]} up to ${fifth}`);
      await late.settled();
      expect(await admin.get('jwt_secrets:revocations')).toBe(snapshot);
      await late.revoke({ jtis: ['six'], subject: '' }, 'test');
      await late.settled();
      expect(await admin.zcard(deltas)).toBe(0);
      const healed: string[] = [];
      const last = (await (await replica((message) => healed.push(message))).current(0)).list;
      expect(last.batches.flatMap((batch) => batch.jti)).toEqual(['one', 'three', 'four', 'six']);
      expect(healed).toEqual([]);

      // The serial key alone lost (evicted): storage's list is above it. Nothing is lost; the fold brings the
      // key back above the list through the compare-and-swap, and reads after it are of the serial alone again.
      await admin.del('jwt_secrets:revocation_serial');
      const behind: string[] = [];
      const sinces: number[] = [];
      const fresh = await replica(
        (message) => behind.push(message),
        (since) => sinces.push(since),
      );
      expect((await fresh.current(0)).list.batches.flatMap((batch) => batch.jti)).toEqual(
        last.batches.flatMap((batch) => batch.jti),
      );
      expect(behind).toEqual([
        expect.stringContaining(`holds serial ${last.serial}, above its serial key (0)`),
      ]);
      await fresh.settled();
      const repaired = Number(await admin.get('jwt_secrets:revocation_serial'));
      expect(repaired).toBeGreaterThan(last.serial);
      expect(await admin.zcard(deltas)).toBe(0);
      sinces.length = 0;
      for (let i = 0; i < 3; i++) expect((await fresh.current(0)).list.serial).toBe(repaired);
      expect(sinces).toEqual([repaired, repaired, repaired]);
      expect(behind).toHaveLength(1);
      const seventh = (await fresh.revoke({ jtis: ['seven'], subject: '' }, 'test')).list;
      expect(seventh.serial).toBeGreaterThan(last.serial);
      expect(Number(await admin.get('jwt_secrets:revocation_serial'))).toBe(seventh.serial);
      await fresh.settled();
      const after: string[] = [];
      const reread = (await (await replica((message) => after.push(message))).current(0)).list;
      expect(reread.batches.flatMap((batch) => batch.jti)).toEqual(['one', 'three', 'four', 'six', 'seven']);
      expect(after).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });

  it('warns of a delta missing between those a running replica follows by', async () => {
    const admin = new Valkey(valkey.url);
    const deltas = 'jwt_secrets:revocation_deltas';
    try {
      await admin.del('jwt_secrets:revocation_serial', 'jwt_secrets:revocations', deltas);
      const writer = await replica();
      const warnings: string[] = [];
      const sinces: number[] = [];
      const follower = await replica(
        (message) => warnings.push(message),
        (since) => sinces.push(since),
      );
      await writer.revoke({ jtis: ['a'], subject: '' }, 'test');
      const held = (await follower.current(0)).list.serial;
      sinces.length = 0;
      const serials: number[] = [];
      for (const jti of ['b', 'c', 'd']) {
        serials.push((await writer.revoke({ jtis: [jti], subject: '' }, 'test')).list.serial);
      }
      await admin.zremrangebyscore(deltas, serials[1] as number, serials[1] as number);
      const read = (await follower.current(0)).list;
      expect(read.batches.flatMap((batch) => batch.jti)).toEqual(['a', 'b', 'd']);
      // Read from the serial it held: the break was seen in the deltas it followed by.
      expect(sinces[0]).toBe(held);
      expect(warnings).toEqual([
        expect.stringContaining(
          `misses the RevokeTokens calls above serial ${serials[0]} up to ${serials[1]}`,
        ),
      ]);
      await follower.settled();
      // The fold that heals it reads storage whole once more, fresh, before it writes.
      expect(sinces).toEqual([held, 0]);
      expect(await admin.zcard(deltas)).toBe(0);
    } finally {
      admin.disconnect();
    }
  });
});
