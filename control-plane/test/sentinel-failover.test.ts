/**
 * VALKEY_MIN_REPLICAS with real processes: a change the replicas did not confirm answers UNAVAILABLE (and stays
 * written), and a Sentinel failover in the middle of rotations from two control planes loses no rotation that
 * answered success and reuses no version, and the edges (one pushed through EDGE_URLS, one pulling KEYSET_URL)
 * converge on the final keyset.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { Valkey } from 'iovalkey';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKeyset } from '../../shared/keyset-envelope.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { awaitEdgesConverged } from '../../test/support/edge-convergence.ts';
import { startNodeEdge } from '../../test/support/edge-processes.ts';
import { freePort } from '../../test/support/free-port.ts';
import { expectStatus, settle } from '../../test/support/grpc-outcome.ts';
import { KEYSET_SIGNING_KEY } from '../../test/support/keysets.ts';
import { expectAcknowledgedKept, startRotationStreams } from '../../test/support/rotation-streams.ts';
import { runMainUntilExit } from '../../test/support/run-main.ts';
import { connectAdmin } from '../../test/support/valkey-layout.ts';
import { info, SENTINEL_MASTER, startSentinelSetup } from '../../test/support/valkey-sentinel.ts';
import { startValkey } from '../../test/support/valkey-server.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = randomBytes(32).toString('base64url');
const newSecret = (label: string) => `${label}-${randomBytes(24).toString('base64url')}`;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(options: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const started = await startHarness(options);
  cleanups.push(() => started.stop());
  return started;
}

async function admin(url: string): Promise<Valkey> {
  const client = await connectAdmin(url);
  cleanups.push(async () => client.disconnect());
  return client;
}

describe('VALKEY_MIN_REPLICAS', () => {
  it('answers UNAVAILABLE, saying the outcome is open, when no replica confirms; succeeds again once one does', async () => {
    const primary = await startValkey();
    cleanups.push(() => primary.stop());
    const replica = await startValkey({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    cleanups.push(() => replica.stop());
    await waitUntil('the replica linked', async () =>
      (await info(replica.port, 'replication')).includes('master_link_status:up'),
    );
    const cp = await harness({
      valkeyUrl: primary.url,
      keysetKey: KEYSET_KEY,
      env: { VALKEY_MIN_REPLICAS: '1' },
    });
    const store = await admin(primary.url);

    await replica.kill('SIGTERM');
    const unconfirmed = newSecret('unconfirmed');
    const outcome = await settle(cp.rotate(unconfirmed));
    expectStatus(outcome, status.UNAVAILABLE, 'may or may not survive a failover');
    expect(outcome.error?.details).not.toContain(unconfirmed);
    // Written on the primary all the same: the operator reads the keyset to learn the outcome.
    expect((await store.get(VALKEY_KEYS.active)) === unconfirmed).toBe(true);

    await replica.restart();
    await waitUntil('the replica linked again', async () =>
      (await info(replica.port, 'replication')).includes('master_link_status:up'),
    );
    expectStatus(await settle(cp.rotate(newSecret('confirmed'))), status.OK);
  });
});

describe('Sentinel start-up', () => {
  it('stops with a message naming the Sentinels when none answers', async () => {
    const port = await freePort();
    const password = randomBytes(12).toString('hex');
    const { code, output } = await runMainUntilExit({
      ADMIN_TOKEN: randomBytes(48).toString('base64url'),
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
      VALKEY_SENTINELS: `127.0.0.1:${port}`,
      VALKEY_URL: `redis://keyward:${password}@ignored:6379`,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
    });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain(`through Sentinel (master mymaster at 127.0.0.1:${port})`);
    expect(output).not.toContain(password);
  });
});

describe('Sentinel failover', () => {
  it('a primary killed amid rotations from two control planes loses no acknowledged rotation; the edges converge', async () => {
    const [setup, pushed] = await Promise.all([
      startSentinelSetup(),
      // Pushes are its only source: it reaches the final keyset only if a control plane pushed it.
      startNodeEdge({ keysetKey: KEYSET_KEY }),
    ]);
    cleanups.push(() => pushed.stop());
    cleanups.push(() => setup.stop());
    const env = {
      VALKEY_SENTINELS: setup.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
      VALKEY_SENTINEL_MASTER: SENTINEL_MASTER,
      VALKEY_MIN_REPLICAS: '1',
    };
    const edgeUrls = [pushed.url];
    const replicas = [
      await harness({ keysetKey: KEYSET_KEY, gracePeriod: '24h', edgeUrls, env }),
      await harness({ keysetKey: KEYSET_KEY, gracePeriod: '24h', edgeUrls, env }),
    ];
    // Not in EDGE_URLS: pulls from the second control plane whenever its keyset is a second old.
    const pulling = await startNodeEdge({
      keysetKey: KEYSET_KEY,
      keysetUrl: (replicas[1] as Harness).keysetUrl,
      keysetTtl: '1s',
    });
    cleanups.push(() => pulling.stop());

    const streams = startRotationStreams(replicas);
    try {
      await waitUntil('rotations before the failover', () => streams.acknowledged.length >= 10, 15_000);
      const kill = setup.failOver();
      streams.mark();
      await kill;
      console.log(
        `sentinel failover: ${await streams.resumed('both control planes rotating on the new primary', 20_000)}`,
      );
    } finally {
      await streams.stop();
    }

    const store = await admin(`redis://127.0.0.1:${await setup.primaryPort()}`);
    const keyset = parseKeyset(JSON.parse((await store.get(VALKEY_KEYS.state)) as string));
    await expectAcknowledgedKept(keyset, await store.hgetall(VALKEY_KEYS.history), streams.acknowledged);
    // Both control planes' pub/sub followed the failover: each learns the other's last change (the cache TTL is 300 s).
    for (const cp of replicas) {
      await waitUntil(
        'each control plane holds the stored keyset',
        async () => Number((await cp.getKeyset()).version) === keyset.version,
        5_000,
      );
    }
    const tookMs = await awaitEdgesConverged(
      [
        { name: 'pushed edge', url: pushed.url },
        { name: 'pulling edge', url: pulling.url },
      ],
      keyset.version,
      (await store.get(VALKEY_KEYS.active)) as string,
      15_000,
    );
    console.log(
      `sentinel failover: both edges on version ${keyset.version} ${Math.round(tookMs)} ms after the check began`,
    );
  }, 90_000);
});
