import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { health, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_SIGNING_KEY,
  KEYSET_KEY,
  seal,
  secret,
  signByHand,
} from '../../../test/support/keysets.ts';
import { revocationBatch, revocationList, signRevocations } from '../../../test/support/revocation-lists.ts';
import { startUpstashGateway, type UpstashGateway } from '../../../test/support/upstash-gateway.ts';
import { startValkey, type ValkeyServer } from '../../../test/support/valkey-server.ts';
import { createEdge } from '../../src/create-edge.ts';
import { KEYSET_REDIS_KEY } from '../../src/keyset/sources/upstash-keyset-source.ts';
import {
  REVOCATION_DELTAS_REDIS_KEY,
  REVOCATION_SERIAL_REDIS_KEY,
  REVOCATIONS_REDIS_KEY,
} from '../../src/revocation/revocation-sources.ts';

const TOKEN = 'upstash-rest-token-for-tests';
let valkey: ValkeyServer;
let gateway: UpstashGateway;
let client: Valkey;

beforeAll(async () => {
  valkey = await startValkey();
  gateway = await startUpstashGateway({ valkeyPort: valkey.port, token: TOKEN });
  client = new Valkey({ host: '127.0.0.1', port: valkey.port });
});

afterAll(async () => {
  client?.disconnect();
  await gateway?.close();
  await valkey?.stop();
});

const ONE = secret('upstash-one');
const TWO = secret('upstash-two');

describe('pulling jwt_secrets:keyset through @upstash/redis (real valkey-server behind a REST gateway)', () => {
  it('answers 503 while the key is absent, then takes the envelope at the next pull', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const logs: string[] = [];
    const env = { ...EDGE_KEYS, UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: TOKEN };
    const edge = createEdge({ env, now: () => now, log: (line) => logs.push(line) });
    expect((await health(edge)).status).toBe(503);

    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(1, ONE)));
    now += 5_000;
    expect(await health(edge)).toMatchObject({ status: 200, body: { keyset_version: 1 } });
    expect(await verifyError(edge, await signByHand(ONE, { sub: 'one' }))).toBeUndefined();

    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(2, TWO, [{ secret: ONE }])));
    expect(await edge.refresh('scheduled')).toMatchObject({ taken: true, version: 2, failures: [] });
    expect(await verifyError(edge, await signByHand(TWO, { sub: 'two' }))).toBeUndefined();
    // Only the cold pull, while the key was absent, failed.
    expect(logs).toEqual([
      `keyset: pull (cold) failed: UPSTASH_REDIS_REST_URL: pull_failed: ${KEYSET_REDIS_KEY} is not set`,
    ]);
  });

  it('refuses a keyset sealed with the right KEYSET_KEY but signed by another key (a failed pull)', async () => {
    let now = Date.parse('2026-06-01T12:00:00Z');
    const env = { ...EDGE_KEYS, UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: TOKEN };
    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(1, ONE)));
    const edge = createEdge({ env, now: () => now, log: () => {} });
    expect(await verifyError(edge, await signByHand(ONE, { sub: 'one' }))).toBeUndefined();
    // Whoever can write the database (and holds KEYSET_KEY) is still not the control plane.
    await client.set(
      KEYSET_REDIS_KEY,
      await seal(await buildKeyset(7, TWO), KEYSET_KEY, FOREIGN_SIGNING_KEY),
    );
    now += 5_000;
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: false, version: 1 });
    expect(report.failures).toEqual([expect.stringMatching(/^UPSTASH_REDIS_REST_URL: .*signature/)]);
    expect(await verifyError(edge, await signByHand(TWO, { sub: 'two' }))).toBe('signature_invalid');
  });

  it('does not count a missing key as confirmation, so KEYSET_MAX_STALENESS still fails closed', async () => {
    let now = Date.parse('2026-06-02T00:00:00Z');
    const env = {
      ...EDGE_KEYS,
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: TOKEN,
      KEYSET_TTL: '60s',
      KEYSET_MAX_STALENESS: '5m',
    };
    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(1, ONE)));
    const edge = createEdge({ env, now: () => now, log: () => {} });
    const token = await signByHand(ONE, { sub: 'one' });
    expect(await verifyError(edge, token)).toBeUndefined();
    // An emptied database (or the wrong db index) answers nil from now on.
    await client.del(KEYSET_REDIS_KEY);
    now += 60_000;
    const report = await edge.refresh('stale');
    expect(report.failures).toEqual([`UPSTASH_REDIS_REST_URL: pull_failed: ${KEYSET_REDIS_KEY} is not set`]);
    expect((await health(edge)).body).toMatchObject({ keyset_confirmed_s: 60 });
    now += 4 * 60_000 + 1;
    expect(await health(edge)).toMatchObject({ status: 503, body: { status: 'stale' } });
  });

  it('keeps the held keyset when the REST token is wrong, reporting the failure without the token', async () => {
    const logs: string[] = [];
    const env = {
      ...EDGE_KEYS,
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: 'wrong-token',
    };
    const edge = createEdge({ env, log: (line) => logs.push(line) });
    const report = await edge.refresh('scheduled');
    expect(report.taken).toBe(false);
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatch(/^UPSTASH_REDIS_REST_URL: /);
    expect(logs.join('\n')).not.toContain('wrong-token');
    expect((await health(edge)).status).toBe(503);
  });

  it('reports an unreachable gateway as a failed pull, not an error', async () => {
    const env = {
      ...EDGE_KEYS,
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
      UPSTASH_REDIS_REST_TOKEN: TOKEN,
    };
    const edge = createEdge({ env, log: () => {} });
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: false, version: 0 });
    expect(report.failures).toHaveLength(1);
  });
});

describe('pulling the revocation list through @upstash/redis (real valkey-server behind a REST gateway)', () => {
  it('reads the serial, then the snapshot only when it is above the held one, and refuses what it revokes', async () => {
    const now = Date.parse('2026-06-03T00:00:00Z');
    const env = { ...EDGE_KEYS, UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: TOKEN };
    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(1, ONE)));
    await client.del(REVOCATION_SERIAL_REDIS_KEY, REVOCATIONS_REDIS_KEY);
    const logs: string[] = [];
    const edge = createEdge({ env, now: () => now, log: (line) => logs.push(line) });
    const stolen = await signByHand(ONE, { sub: 'ivy', jti: 'jti-ivy', iat: now / 1000 - 60 });
    const earlier = await signByHand(ONE, { sub: 'jack', jti: 'jti-jack', iat: now / 1000 - 60 });
    const later = await signByHand(ONE, { sub: 'jack', jti: 'jti-jack-2', iat: now / 1000 + 1 });
    // No serial stored: an empty list, not a failure.
    expect(await verifyError(edge, stolen)).toBeUndefined();
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 0 });

    await client.set(
      REVOCATIONS_REDIS_KEY,
      await signRevocations(
        revocationList(0, [
          revocationBatch(1, now, { jti: ['jti-ivy'] }),
          revocationBatch(2, now, { sub: ['jack'] }),
        ]),
      ),
    );
    // The snapshot alone is not read while the serial does not say there is something newer.
    expect(await edge.refresh('scheduled')).toMatchObject({ failures: [] });
    expect(await verifyError(edge, stolen)).toBeUndefined();
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '2');
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 2 });
    expect(await verifyError(edge, stolen)).toBe('token_revoked');
    expect(await verifyError(edge, earlier)).toBe('token_revoked');
    expect(await verifyError(edge, later)).toBeUndefined();

    // Written by someone who holds the database but not KEYSET_SIGNING_KEY: a failed pull, nothing taken.
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '3');
    await client.set(
      REVOCATIONS_REDIS_KEY,
      await signRevocations(revocationList(0, [revocationBatch(3, now, {})]), FOREIGN_SIGNING_KEY),
    );
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 2 });
    expect(await verifyError(edge, stolen)).toBe('token_revoked');
    expect(logs).toEqual([
      expect.stringMatching(
        /^revocations: pull \(scheduled\) failed: UPSTASH_REDIS_REST_URL: envelope_signature_invalid: /,
      ),
    ]);
    // A serial that is no number is a failed pull too, naming the key.
    await client.set(REVOCATION_SERIAL_REDIS_KEY, 'three');
    await edge.refresh('scheduled');
    expect(logs.at(-1)).toBe(
      `revocations: pull (scheduled) failed: UPSTASH_REDIS_REST_URL: pull_failed: ${REVOCATION_SERIAL_REDIS_KEY} is not a decimal serial`,
    );
    await client.del(REVOCATION_SERIAL_REDIS_KEY, REVOCATIONS_REDIS_KEY);
  });

  it('reads only the deltas above the held serial, and the snapshot again once deltas it lacks were folded in', async () => {
    const now = Date.parse('2026-06-04T00:00:00Z');
    const env = { ...EDGE_KEYS, UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: TOKEN };
    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(1, ONE)));
    await client.del(REVOCATION_SERIAL_REDIS_KEY, REVOCATIONS_REDIS_KEY, REVOCATION_DELTAS_REDIS_KEY);
    const logs: string[] = [];
    const edge = createEdge({ env, now: () => now, log: (line) => logs.push(line) });
    const tokens = Object.fromEntries(
      await Promise.all(
        [1, 2, 3, 4, 5, 6, 7].map(async (n) => [n, await signByHand(ONE, { sub: `u${n}`, jti: `jti-${n}` })]),
      ),
    ) as Record<number, string>;
    const batch = (n: number) => revocationBatch(n, now, { jti: [`jti-${n}`] });
    const delta = async (n: number) => [n, await signRevocations(revocationList(n - 1, [batch(n)]))] as const;
    const refused = async () => {
      const outcomes = await Promise.all(
        [1, 2, 3, 4, 5, 6, 7].map((n) => verifyError(edge, tokens[n] as string)),
      );
      return [1, 2, 3, 4, 5, 6, 7].filter((_, i) => outcomes[i] === 'token_revoked');
    };
    expect(await verifyError(edge, tokens[1] as string)).toBeUndefined();

    // An edge that holds nothing: the snapshot (batches 1, 2) and the delta above it (3).
    await client.set(REVOCATIONS_REDIS_KEY, await signRevocations(revocationList(0, [batch(1), batch(2)])));
    await client.zadd(REVOCATION_DELTAS_REDIS_KEY, ...(await delta(3)));
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '3');
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 3 });
    expect(await refused()).toEqual([1, 2, 3]);

    // Holding 3: only the deltas above it are read. A snapshot that is no list at all proves it is left unread.
    await client.set(REVOCATIONS_REDIS_KEY, 'not a signed list');
    await client.zadd(REVOCATION_DELTAS_REDIS_KEY, ...(await delta(4)));
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '4');
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 4 });
    expect(await refused()).toEqual([1, 2, 3, 4]);
    expect(logs).toEqual([]);

    // Deltas 5 and 6 folded into a snapshot before this edge saw them; only 7 is left above it. The delta above
    // the held serial starts at 6: the edge reads the snapshot and every delta.
    await client.set(
      REVOCATIONS_REDIS_KEY,
      await signRevocations(revocationList(0, [1, 2, 3, 4, 5, 6].map(batch))),
    );
    await client.del(REVOCATION_DELTAS_REDIS_KEY);
    await client.zadd(REVOCATION_DELTAS_REDIS_KEY, ...(await delta(7)));
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '7');
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 7 });
    expect(await refused()).toEqual([1, 2, 3, 4, 5, 6, 7]);

    // A delta written by someone who holds the database but not KEYSET_SIGNING_KEY: refused, nothing taken.
    const forged = revocationList(7, [revocationBatch(8, now, { sub: ['u1'] })]);
    await client.zadd(REVOCATION_DELTAS_REDIS_KEY, 8, await signRevocations(forged, FOREIGN_SIGNING_KEY));
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '8');
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 7 });
    expect(logs).toEqual([
      expect.stringMatching(
        /^revocations: pull \(scheduled\) failed: UPSTASH_REDIS_REST_URL: envelope_signature_invalid: /,
      ),
    ]);
    await client.del(REVOCATION_SERIAL_REDIS_KEY, REVOCATIONS_REDIS_KEY, REVOCATION_DELTAS_REDIS_KEY);
  });

  it('takes the deltas alone before any snapshot was written, and fails a pull that finds a serial but no list', async () => {
    const now = Date.parse('2026-06-05T00:00:00Z');
    const env = { ...EDGE_KEYS, UPSTASH_REDIS_REST_URL: gateway.url, UPSTASH_REDIS_REST_TOKEN: TOKEN };
    await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(1, ONE)));
    await client.del(REVOCATION_SERIAL_REDIS_KEY, REVOCATIONS_REDIS_KEY, REVOCATION_DELTAS_REDIS_KEY);
    const logs: string[] = [];
    const edge = createEdge({ env, now: () => now, log: (line) => logs.push(line) });
    const token = await signByHand(ONE, { sub: 'kim', jti: 'jti-kim' });
    expect(await verifyError(edge, token)).toBeUndefined();

    // A serial with neither a snapshot nor a delta: storage lost the list. A failed pull naming both keys.
    await client.set(REVOCATION_SERIAL_REDIS_KEY, '2');
    await edge.refresh('scheduled');
    expect(logs).toEqual([
      `revocations: pull (scheduled) failed: UPSTASH_REDIS_REST_URL: pull_failed: ${REVOCATION_SERIAL_REDIS_KEY} is 2 but neither ${REVOCATIONS_REDIS_KEY} nor ${REVOCATION_DELTAS_REDIS_KEY} holds a list`,
    ]);
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 0 });

    // The first two calls, not yet folded into a snapshot: the deltas from 0 make the whole list.
    const first = revocationList(0, [revocationBatch(1, now, { sub: ['someone'] })]);
    const second = revocationList(1, [revocationBatch(2, now, { jti: ['jti-kim'] })]);
    await client.zadd(REVOCATION_DELTAS_REDIS_KEY, 1, await signRevocations(first));
    await client.zadd(REVOCATION_DELTAS_REDIS_KEY, 2, await signRevocations(second));
    await edge.refresh('scheduled');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 2 });
    expect(await verifyError(edge, token)).toBe('token_revoked');
    expect(logs).toHaveLength(1);
    await client.del(REVOCATION_SERIAL_REDIS_KEY, REVOCATIONS_REDIS_KEY, REVOCATION_DELTAS_REDIS_KEY);
  });
});
