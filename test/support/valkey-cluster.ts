/**
 * A real Valkey Cluster on loopback, for tests: three primaries (`valkey-server --cluster-enabled yes`, free
 * ports for clients and for the cluster bus, temporary directories) joined by `valkey-cli --cluster create`,
 * with `replicas` replicas each (none by default), and more replicas added on demand. Resolves once every node
 * reports cluster_state:ok; `stop()` stops them all.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'iovalkey';
import { waitUntil } from './bounded-waits.ts';
import { freePort } from './free-port.ts';
import { info } from './valkey-sentinel.ts';
import { startValkey, type ValkeyServer } from './valkey-server.ts';

const run = promisify(execFile);

export interface ValkeyClusterSetup {
  nodes: ValkeyServer[];
  /** The seed addresses, as VALKEY_CLUSTER_NODES takes them. */
  seeds: Array<{ host: string; port: number }>;
  /** A cluster client for assertions and set-up (follows redirections, retries while a node restarts). */
  admin(): Promise<Cluster>;
  /** Starts one more node as a replica of the primary at `primaryPort`; resolves once its link is up. */
  addReplica(primaryPort: number): Promise<ValkeyServer>;
  stop(): Promise<void>;
}

/** One cluster-enabled valkey-server (a node timeout of 1 s: failures are noticed quickly). */
async function startNode(): Promise<ValkeyServer> {
  const busPort = await freePort();
  const node = await startValkey({
    args: [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-port',
      String(busPort),
      '--cluster-node-timeout',
      '1000',
    ],
  });
  busPorts.set(node.port, busPort);
  return node;
}

/** The cluster bus port of each node by its client port (CLUSTER MEET needs it: it is not port + 10000 here). */
const busPorts = new Map<number, number>();

export async function startValkeyCluster(replicas = 0): Promise<ValkeyClusterSetup> {
  const nodes: ValkeyServer[] = [];
  try {
    for (let i = 0; i < 3 * (1 + replicas); i++) nodes.push(await startNode());
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    const create = [
      '--cluster',
      'create',
      ...addresses,
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ];
    await run('valkey-cli', create, { timeout: 20_000 });
    await waitUntil(
      'every node reports cluster_state:ok',
      async () =>
        (await Promise.all(nodes.map((node) => clusterInfo(node.port)))).every((text) =>
          text.includes('cluster_state:ok'),
        ),
      20_000,
    );
  } catch (error) {
    for (const node of nodes) await node.stop();
    throw error;
  }
  const seeds = nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  return {
    nodes,
    seeds,
    async admin() {
      const admin = new Cluster(seeds, { lazyConnect: true });
      admin.on('error', () => {});
      await admin.connect();
      return admin;
    },
    async addReplica(primaryPort) {
      const node = await startNode();
      nodes.push(node);
      const primaryId = (await cli(primaryPort, 'cluster', 'myid')).trim();
      const bus = String(busPorts.get(primaryPort));
      await cli(node.port, 'cluster', 'meet', '127.0.0.1', String(primaryPort), bus);
      await waitUntil(
        'the new node learned the primary',
        async () => (await cli(node.port, 'cluster', 'nodes')).includes(primaryId),
        10_000,
      );
      await cli(node.port, 'cluster', 'replicate', primaryId);
      await waitUntil(
        'the new replica linked to its primary',
        async () => (await info(node.port, 'replication')).includes('master_link_status:up'),
        20_000,
      );
      return node;
    },
    async stop() {
      for (const node of nodes) await node.stop();
    },
  };
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('valkey-cli', ['-p', String(port), ...args], { timeout: 5_000 });
  return stdout;
}

/** CLUSTER INFO of the node on `port` ('' when it does not answer). */
async function clusterInfo(port: number): Promise<string> {
  const text = await info(port, 'cluster');
  if (!text.includes('cluster_enabled:1')) return '';
  return cli(port, 'cluster', 'info');
}
