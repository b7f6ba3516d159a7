/**
 * The control plane on a real 3-node Valkey Cluster (VALKEY_CLUSTER_NODES): the SPEC names follow each change
 * (`valkey-cli -c GET jwt_secrets:active` works), and rotations carry on through a migration of the hash slot
 * that holds the project's keys.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Cluster } from 'iovalkey';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { freePort } from '../../test/support/free-port.ts';
import { settle } from '../../test/support/grpc-outcome.ts';
import { KEYSET_SIGNING_KEY } from '../../test/support/keysets.ts';
import { runMainUntilExit } from '../../test/support/run-main.ts';
import { startValkeyCluster, type ValkeyClusterSetup } from '../../test/support/valkey-cluster.ts';
import { CLUSTER_KEYS } from '../src/storage/cluster-layout.ts';

const run = promisify(execFile);
const KEYSET_KEY = randomBytes(32).toString('base64url');
const newSecret = (label: string) => `${label}-${randomBytes(24).toString('base64url')}`;

let cluster: ValkeyClusterSetup;
let admin: Cluster;
let cp: Harness;

beforeAll(async () => {
  cluster = await startValkeyCluster();
  admin = await cluster.admin();
  cp = await startHarness({
    keysetKey: KEYSET_KEY,
    env: { VALKEY_CLUSTER_NODES: cluster.seeds.map(({ host, port }) => `${host}:${port}`).join(',') },
  });
}, 60_000);

afterAll(async () => {
  await cp?.stop();
  admin?.disconnect();
  await cluster?.stop();
});

/** Runs `command` on the node at `port` (a plain connection: no redirection). */
async function onNode(port: number, ...command: string[]): Promise<unknown> {
  const node = new Valkey({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  node.on('error', () => {});
  try {
    await node.connect();
    return await node.call(command[0] as string, ...command.slice(1));
  } finally {
    node.disconnect();
  }
}

/** Moves `slot` from the node at `from` to the node at `to`, keys included, the way `--cluster reshard` does. */
async function migrateSlot(slot: number, from: number, to: number): Promise<void> {
  const [fromId, toId] = [await onNode(from, 'CLUSTER', 'MYID'), await onNode(to, 'CLUSTER', 'MYID')];
  await onNode(to, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId as string);
  await onNode(from, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId as string);
  for (;;) {
    const keys = (await onNode(from, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
    if (keys.length === 0) break;
    await onNode(from, 'MIGRATE', '127.0.0.1', String(to), '', '0', '5000', 'KEYS', ...keys);
  }
  for (const node of cluster.nodes)
    await onNode(node.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', toId as string);
}

describe('control plane on a Valkey Cluster', () => {
  it('stops at start-up naming the seeds when none answers', async () => {
    const port = await freePort();
    const { code, output } = await runMainUntilExit({
      ADMIN_TOKEN: randomBytes(48).toString('base64url'),
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
      VALKEY_CLUSTER_NODES: `127.0.0.1:${port}`,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
    });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain(`Cannot connect to Valkey through Cluster seeds 127.0.0.1:${port}`);
  });

  it('keeps jwt_secrets:active and jwt_secrets:keyset by name, in step with each answered change', async () => {
    for (let i = 0; i < 3; i++) {
      const secret = newSecret('cluster');
      expect((await cp.rotate(secret)).success).toBe(true);
      const { stdout } = await run('valkey-cli', [
        '-c',
        '-p',
        String(cluster.nodes[0]?.port),
        'GET',
        'jwt_secrets:active',
      ]);
      expect(stdout.trim() === secret, 'valkey-cli -c GET jwt_secrets:active is the new secret').toBe(true);
      expect(await admin.get('jwt_secrets:keyset')).toBe(await admin.get(CLUSTER_KEYS.keyset));
      expect(await cp.fetchEnvelope()).toBe(await admin.get('jwt_secrets:keyset'));
    }
  });

  it('rotations carry on through a migration of the slot, and every acknowledged one is kept', async () => {
    const slot = Number(await admin.cluster('KEYSLOT', CLUSTER_KEYS.state));
    const owner = async () => {
      const slots = (await onNode(cluster.nodes[0]?.port as number, 'CLUSTER', 'SLOTS')) as Array<
        [number, number, [string, number]]
      >;
      return (
        slots.find(([low, high]) => low <= slot && slot <= high) as [number, number, [string, number]]
      )[2][1];
    };
    const from = await owner();
    const to = cluster.nodes.map((node) => node.port).find((port) => port !== from) as number;

    const acknowledged: string[] = [];
    const failures: string[] = [];
    let running = true;
    const stream = (async () => {
      while (running) {
        const secret = newSecret('reshard');
        const outcome = await settle(cp.rotate(secret));
        if (outcome.response?.success) acknowledged.push(secret);
        else failures.push(outcome.error?.details ?? 'no success');
      }
    })();
    try {
      await waitUntil('rotations before the migration', () => acknowledged.length >= 5, 15_000);
      await migrateSlot(slot, from, to);
      const before = acknowledged.length;
      await waitUntil('rotations after the migration', () => acknowledged.length >= before + 5, 15_000);
    } finally {
      running = false;
      await stream;
    }
    expect(await owner()).toBe(to);
    const keyset = parseKeyset(JSON.parse((await admin.get(CLUSTER_KEYS.state)) as string));
    const held = new Set(keyset.keys.map((key) => key.kid));
    for (const secret of acknowledged) expect(held.has(await computeKid(secret))).toBe(true);
    expect(failures, 'rotations refused during the migration').toEqual([]);
  }, 60_000);
});
