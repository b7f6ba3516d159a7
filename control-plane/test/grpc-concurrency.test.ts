/**
 * Thousands of concurrent calls against the real control plane on loopback with a real valkey-server: every
 * call answers, no version is lost or given twice, and the process keeps serving.
 */
import { credentials } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { abuseTargetForSuite } from '../../test/support/grpc-abuse-target.ts';
import { healthStatus } from '../../test/support/grpc-health.ts';
import { connectSecretService, type SecretServiceConnection } from '../src/grpc/secret-service-client.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

/** ~4 s on an idle two-core machine; generous for a busy one. */
const LOAD_DEADLINE_MS = 45_000;
const CONCURRENT_ROTATIONS = 120;

describe('gRPC under concurrent load (Valkey storage)', () => {
  const suiteTarget = abuseTargetForSuite();

  // Every rotation keeps its predecessor in grace (24 h), so the keyset grows by one key per rotation; past
  // ~149 keys it would seal over the edges' 64 KiB limit and RotateSecret refuses (keyset-size.test.ts).
  // 120 stays well below that, with room for a few more rotations.
  it(`answers 2,000 concurrent GetKeyset and ${CONCURRENT_ROTATIONS} concurrent RotateSecret, losing and duplicating no version`, async () => {
    const target = suiteTarget();
    const before = await target.snapshot();
    const v0 = before.keyset.version;
    // Four channels (distinct options: distinct connections), the calls spread over them.
    const channels = Array.from({ length: 4 }, (_, i) =>
      connectSecretService(target.harness.grpcAddress, credentials.createInsecure(), {
        'keyward.test.channel': i,
      }),
    );
    try {
      const rotations = Array.from({ length: CONCURRENT_ROTATIONS }, () => target.newSecret('concurrent'));
      const channel = (i: number) => channels[i % channels.length] as SecretServiceConnection;
      const options = { deadlineMs: LOAD_DEADLINE_MS };
      const reads = Array.from({ length: 2_000 }, (_, i) =>
        target.call(channel(i).getKeyset({ admin_token: target.adminToken }, options)),
      );
      const writes = rotations.map((secret, i) =>
        target.call(channel(i).rotateSecret({ admin_token: target.adminToken, new_secret: secret }, options)),
      );
      const [readOutcomes, writeOutcomes] = await Promise.all([Promise.all(reads), Promise.all(writes)]);

      // Every read answered OK with a version that existed during the run.
      for (const outcome of readOutcomes) {
        expect(outcome.error?.details).toBeUndefined();
        expect(outcome.response?.version).toBeGreaterThanOrEqual(v0);
      }
      // Every rotation answered OK (this process queues its own writes, so none loses a race).
      const ok: Array<{ secret: string; version: number; kid: string }> = [];
      for (const [i, outcome] of writeOutcomes.entries()) {
        expect(outcome.error?.details).toBeUndefined();
        const secret = rotations[i] as string;
        expect(outcome.response?.kid).toBe(await computeKid(secret));
        ok.push({
          secret,
          version: outcome.response?.version as number,
          kid: outcome.response?.kid as string,
        });
      }
      expect(ok.length).toBe(rotations.length);
      // OK versions are exactly v0+1 .. v0+n: none lost, none given twice.
      expect(ok.map((r) => r.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: ok.length }, (_, i) => v0 + 1 + i),
      );
      for (const outcome of readOutcomes) {
        expect(outcome.response?.version).toBeLessThanOrEqual(v0 + ok.length);
      }
      const newest = ok.reduce((a, b) => (b.version > a.version ? b : a));
      const [active, , , version] = await target.admin.mget(
        VALKEY_KEYS.active,
        VALKEY_KEYS.keyset,
        VALKEY_KEYS.state,
        VALKEY_KEYS.version,
      );
      expect(Number(version)).toBe(v0 + ok.length);
      expect(active === newest.secret, 'jwt_secrets:active is the newest secret').toBe(true);
      // Every secret that answered OK is in the keyset and in the history, once.
      const after = await target.keysetNow();
      expect(after.version).toBe(v0 + ok.length);
      expect(after.keys.find((key) => key.status === 'active')?.kid).toBe(newest.kid);
      const kids = after.keys.map((key) => key.kid);
      for (const r of ok) expect(kids).toContain(r.kid);
      const historyKids = Object.values(await target.admin.hgetall(VALKEY_KEYS.history)).map(
        (json) => (JSON.parse(json) as { kid: string }).kid,
      );
      expect(new Set(historyKids).size).toBe(historyKids.length);
      for (const r of ok) expect(historyKids).toContain(r.kid);
      expect(historyKids.length).toBe(before.history.count + ok.length);
    } finally {
      for (const channel of channels) channel.close();
    }
    // The process is still serving: health, a read and a rotation.
    expect(await healthStatus(target.harness.grpcAddress, '')).toBe('SERVING');
    const last = await target.rotate({ new_secret: target.newSecret() });
    expect(last.error).toBeUndefined();
    // The leak check after this test reads the access lines of all these calls.
    expect(target.harness.logLines.length).toBeGreaterThan(2_000);
  });
});
