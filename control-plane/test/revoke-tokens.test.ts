/**
 * RevokeTokens against the real control plane on loopback with a real valkey-server: what a call stores (the
 * signed list, its serial, the audit entry), what GET /revocations serves edges that pull, and that bad input is
 * refused with a clear status and changes nothing.
 */
import { credentials, status } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importVerifier, parseVerifyKeys } from '../../shared/keyset-signing-key.ts';
import { openRevocationList, type RevocationList } from '../../shared/revocations.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { expectStatus, settle } from '../../test/support/grpc-outcome.ts';
import { lenField, message, sendRaw, varintField } from '../../test/support/hand-encoded-requests.ts';
import { KEYSET_KEY, KEYSET_VERIFY_KEY } from '../../test/support/keysets.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { connectSecretService, type SecretServiceConnection } from '../src/grpc/secret-service-client.ts';

let valkey: ValkeyServer;
let harness: Harness;
let client: SecretServiceConnection;
let redis: Valkey;

beforeAll(async () => {
  valkey = await startValkey();
  harness = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY });
  client = connectSecretService(harness.grpcAddress, credentials.createInsecure());
  redis = new Valkey(valkey.url);
}, 30_000);

afterAll(async () => {
  redis?.disconnect();
  client?.close();
  await harness?.stop();
  await valkey?.stop();
});

const revoke = (jtis: string[], subject = '', adminToken = harness.adminToken) =>
  settle(client.revokeTokens({ admin_token: adminToken, jtis, subject }, { deadlineMs: 15_000 }));

async function open(document: string): Promise<RevocationList> {
  const verifiers = await Promise.all(parseVerifyKeys(KEYSET_VERIFY_KEY).map(importVerifier));
  return openRevocationList(document, verifiers);
}

async function pull(since: number | string): Promise<{ status: number; list?: RevocationList }> {
  const response = await fetch(`${harness.httpUrl}/revocations?since=${since}`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    return { status: response.status };
  }
  expect(response.headers.get('content-type')).toBe('application/jose');
  return { status: 200, list: await open(await response.text()) };
}

/** What a refused call must leave as it was. */
async function storedState() {
  const [serial, list, deltas, auditLength] = await Promise.all([
    redis.get('jwt_secrets:revocation_serial'),
    redis.get('jwt_secrets:revocations'),
    redis.zrange('jwt_secrets:revocation_deltas', 0, -1),
    redis.llen('jwt_secrets:audit'),
  ]);
  return { serial, list, deltas, auditLength };
}

describe('RevokeTokens', () => {
  it('refuses bad input with INVALID_ARGUMENT (or PERMISSION_DENIED) and stores nothing', async () => {
    const before = await storedState();
    const cases: [Promise<Awaited<ReturnType<typeof revoke>>>, status, RegExp][] = [
      [revoke([]), status.INVALID_ARGUMENT, /nothing to revoke/],
      [revoke(['x'.repeat(257)]), status.INVALID_ARGUMENT, /jtis\[0\] must be 1 to 256 characters/],
      [revoke(['ok', '']), status.INVALID_ARGUMENT, /jtis\[1\] must be 1 to 256/],
      [revoke(Array.from({ length: 10_001 }, (_, i) => `j${i}`)), status.INVALID_ARGUMENT, /at most 10000/],
      // 10,000 jtis of 256 characters are 2.6 MB: past RevokeTokens' 1 MiB request limit.
      [
        revoke(Array.from({ length: 10_000 }, (_, i) => `${i}`.padEnd(256, 'x'))),
        status.RESOURCE_EXHAUSTED,
        /larger than max/,
      ],
      [revoke([], 'alice\nadmin'), status.INVALID_ARGUMENT, /control characters/],
      [revoke([], 'bob\u0000'), status.INVALID_ARGUMENT, /control characters/],
      [revoke([], 'x'.repeat(1025)), status.INVALID_ARGUMENT, /at most 1024 characters/],
      [revoke(['a'], '', 'wrong-token'.repeat(8)), status.PERMISSION_DENIED, /Invalid admin token/],
    ];
    for (const [call, code, details] of cases) {
      const outcome = await call;
      expect(`${outcome.error?.details}`).toMatch(details);
      expectStatus(outcome, code, details);
    }
    expect(await storedState()).toEqual(before);
    expect((await pull(before.serial ?? 0)).status).toBe(304);
  });

  it('takes 10,000 UUID jtis in one call', async () => {
    const jtis = Array.from({ length: 10_000 }, () => crypto.randomUUID());
    const outcome = await revoke(jtis);
    expect(outcome.error).toBeUndefined();
    const { list } = await pull(0);
    expect(list?.batches.at(-1)?.jti).toEqual(jtis);
  });

  it('counts a jti in characters: 256 astral characters are one jti, not too long', async () => {
    const astral = '\u{1F511}'.repeat(256);
    const outcome = await revoke([astral]);
    expect(outcome.error).toBeUndefined();
    const { list } = await pull(0);
    expect(list?.batches.flatMap((batch) => batch.jti)).toContain(astral);
  });

  it('stores the signed list and its serial, audits the call, and serves deltas to edges that pull', async () => {
    const before = Number((await redis.get('jwt_secrets:revocation_serial')) ?? 0);
    const first = await revoke(['stolen-1', 'stolen-2', 'stolen-1']);
    expect(first.error).toBeUndefined();
    expect(first.response).toMatchObject({ success: true, edges: [] });
    // Serials are the time of the call in ms (or one more than the last, if that is later).
    const one = first.response?.version as number;
    expect(one).toBeGreaterThan(before);
    expect(Math.abs(one - Date.now())).toBeLessThan(60_000);
    expect(first.response?.message).toMatch(/Revoked 2 jtis/);

    const second = await revoke([], 'user-42');
    const two = second.response?.version as number;
    expect(two).toBeGreaterThan(one);

    // Valkey holds exactly what an edge pulling through Upstash reads: the serial, and each call's own signed
    // delta scored by its serial (the snapshot, rewritten now and then, is not written per call).
    expect(await redis.get('jwt_secrets:revocation_serial')).toBe(String(two));
    const [oneDelta, oneScore, twoDelta, twoScore] = await redis.zrangebyscore(
      'jwt_secrets:revocation_deltas',
      one,
      two,
      'WITHSCORES',
    );
    expect([Number(oneScore), Number(twoScore)]).toEqual([one, two]);
    const deltas = [await open(oneDelta as string), await open(twoDelta as string)];
    expect(deltas[1]).toMatchObject({ serial: two, from: one });
    const newest = deltas.flatMap((delta) => delta.batches);
    expect(newest.map((batch) => [batch.jti, batch.sub])).toEqual([
      [['stolen-1', 'stolen-2'], []],
      [[], ['user-42']],
    ]);
    // REVOCATION_TTL defaults to 24h; the subject's cutoff is the time of the call.
    const [jtiBatch, subjectBatch] = newest as [RevocationList['batches'][0], RevocationList['batches'][0]];
    expect(jtiBatch.expires - jtiBatch.at).toBe(24 * 3600 * 1000);
    expect(Math.abs(subjectBatch.at - Date.now())).toBeLessThan(60_000);

    // The audit entry names the counts and the subject, chained like every other admin action.
    const audit = JSON.parse((await redis.lindex('jwt_secrets:audit', -1)) as string);
    expect(audit).toMatchObject({
      action: 'revoke_tokens',
      version: two,
      revoked: { jtis: 0, subject: 'user-42' },
    });

    const delta = await pull(one);
    expect(delta.list).toMatchObject({ serial: two, from: one });
    expect(delta.list?.batches).toHaveLength(1);
    expect((await pull(0)).list).toMatchObject({ serial: two, from: 0 });
    expect((await pull(two)).status).toBe(304);
    // A serial above the list's (an edge holding a list from before a restore) gets a snapshot, which it adds.
    expect((await pull(two + 50)).list).toMatchObject({ serial: two, from: 0 });
    for (const bad of ['-1', 'abc', '1e3', '99999999999999999999'])
      expect((await pull(bad)).status).toBe(400);
  });

  it('keeps revocations across a restart of the control plane', async () => {
    const serial = Number(await redis.get('jwt_secrets:revocation_serial'));
    expect(serial).toBeGreaterThan(0);
    const restarted = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY });
    try {
      const response = await fetch(`${restarted.httpUrl}/revocations?since=0`);
      const list = await open(await response.text());
      expect(list.serial).toBe(serial);
      expect(list.batches.flatMap((batch) => batch.jti)).toContain('stolen-1');
    } finally {
      await restarted.stop();
    }
  });

  it('never logs the revoked jtis or the subject', () => {
    const logs = harness.logLines.join('\n');
    expect(logs).toContain('Revoking tokens');
    expect(logs).not.toContain('stolen-1');
    expect(logs).not.toContain('user-42');
  });

  it('refuses a jti that is not UTF-8, and a jti sent with the wrong wire type, storing nothing', async () => {
    const before = await storedState();
    const notUtf8 = await settle(
      sendRaw(
        client.client,
        'RevokeTokens',
        message(lenField(1, harness.adminToken), lenField(2, 'fine'), lenField(2, [0xff, 0xfe])),
      ),
    );
    expectStatus(notUtf8, status.INVALID_ARGUMENT, 'jtis is not valid UTF-8');
    const varintJti = await settle(
      sendRaw(client.client, 'RevokeTokens', message(lenField(1, harness.adminToken), varintField(2, 7))),
    );
    expectStatus(varintJti, status.INVALID_ARGUMENT, /field 2 \(jtis\) has wire type 0/);
    // Several jtis as repeated fields on the wire, as any protobuf client sends them.
    const repeated = await settle(
      sendRaw(
        client.client,
        'RevokeTokens',
        message(lenField(1, harness.adminToken), lenField(2, 'wire-a'), lenField(2, 'wire-b')),
      ),
    );
    expect(repeated.error).toBeUndefined();
    expect(repeated.response?.version).toBeGreaterThan(Number(before.serial ?? 0));
    const { list } = await pull(Number(before.serial ?? 0));
    expect(list?.batches.at(-1)?.jti).toEqual(['wire-a', 'wire-b']);
  });
});
