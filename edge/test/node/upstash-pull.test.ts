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
import { startUpstashGateway, type UpstashGateway } from '../../../test/support/upstash-gateway.ts';
import { startValkey, type ValkeyServer } from '../../../test/support/valkey-server.ts';
import { createEdge } from '../../src/create-edge.ts';
import { KEYSET_REDIS_KEY } from '../../src/keyset/sources/upstash-keyset-source.ts';

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
