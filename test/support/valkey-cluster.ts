/**
 * A real 3-node Valkey Cluster on loopback, for tests: three `valkey-server --cluster-enabled yes` (free ports
 * for clients and for the cluster bus, temporary directories) joined by `valkey-cli --cluster create`, no
 * replicas. Resolves once every node reports cluster_state:ok; `stop()` stops them all.
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
  stop(): Promise<void>;
}

export async function startValkeyCluster(size = 3): Promise<ValkeyClusterSetup> {
  const nodes: ValkeyServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const busPort = await freePort();
      nodes.push(
        await startValkey({
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
        }),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      'valkey-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      {
        timeout: 20_000,
      },
    );
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
    async stop() {
      for (const node of nodes) await node.stop();
    },
  };
}

/** CLUSTER INFO of the node on `port` ('' when it does not answer). */
async function clusterInfo(port: number): Promise<string> {
  const text = await info(port, 'cluster');
  if (!text.includes('cluster_enabled:1')) return '';
  const { stdout } = await run('valkey-cli', ['-p', String(port), 'cluster', 'info'], { timeout: 5_000 });
  return stdout;
}
