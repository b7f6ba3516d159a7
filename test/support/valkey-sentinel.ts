/**
 * A real Sentinel deployment on loopback, for tests: a primary, two replicas (`--replicaof`) and one Sentinel
 * (`valkey-server sentinel.conf --sentinel`, quorum 1) with short timeouts, so that a killed primary is replaced
 * within a few seconds and the new primary still has a replica to confirm writes (VALKEY_MIN_REPLICAS=1). Every process on a free port, in temporary directories, stopped by `stop()`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Valkey } from 'iovalkey';
import { waitUntil } from './bounded-waits.ts';
import { freePort } from './free-port.ts';
import { type ManagedProcess, startProcess } from './managed-process.ts';
import { ping, startValkey, type ValkeyServer } from './valkey-server.ts';

export const SENTINEL_MASTER = 'keyward';

export interface SentinelSetup {
  primary: ValkeyServer;
  replicas: ValkeyServer[];
  /** The Sentinel's address, as VALKEY_SENTINELS takes it. */
  sentinels: Array<{ host: string; port: number }>;
  /** The port of the node the Sentinel names as primary right now. */
  primaryPort(): Promise<number>;
  /**
   * Kills the primary (SIGKILL) and waits until the Sentinel has promoted a replica, it accepts writes and the
   * other replica follows it.
   */
  failOver(): Promise<void>;
  stop(): Promise<void>;
}

// Short for a test, yet above a loaded machine's pauses: a primary wrongly seen down fails over for nothing.
const DOWN_AFTER_MS = 1_000;
const FAILOVER_TIMEOUT_MS = 2_000;

/** Starts the primary, the replicas and the Sentinel; resolves once the Sentinel knows both replicas. */
export async function startSentinelSetup(): Promise<SentinelSetup> {
  const primary = await startValkey();
  const replicas: ValkeyServer[] = [];
  const started: Array<{ stop(): Promise<void> }> = [primary];
  try {
    for (let i = 0; i < 2; i++) {
      const replica = await startValkey({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
      replicas.push(replica);
      started.unshift(replica);
    }
    for (const replica of replicas) {
      await waitUntil('the replica linked to its primary', async () =>
        (await info(replica.port, 'replication')).includes('master_link_status:up'),
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'keyward-sentinel-'));
    const port = await freePort();
    const conf = join(dir, 'sentinel.conf');
    await writeFile(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${SENTINEL_MASTER} ${FAILOVER_TIMEOUT_MS}`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    );
    const sentinel: ManagedProcess = startProcess('valkey-sentinel', 'valkey-server', [conf, '--sentinel'], {
      cwd: dir,
      env: process.env,
    });
    started.unshift({
      async stop() {
        await sentinel.stop();
        await rm(dir, { recursive: true, force: true });
      },
    });
    await waitUntil('the Sentinel answered PING', () => ping(port), 10_000);
    const ask = async (...args: string[]) => {
      const client = new Valkey({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        return await client.call('SENTINEL', ...args);
      } finally {
        client.disconnect();
      }
    };
    await waitUntil(
      'the Sentinel saw both replicas',
      async () => ((await ask('replicas', SENTINEL_MASTER)) as unknown[]).length === replicas.length,
      15_000,
    );
    const primaryPort = async () =>
      Number(((await ask('get-master-addr-by-name', SENTINEL_MASTER)) as string[])[1]);
    return {
      primary,
      replicas,
      sentinels: [{ host: '127.0.0.1', port }],
      primaryPort,
      async failOver() {
        await primary.kill('SIGKILL');
        const ports = replicas.map((replica) => replica.port);
        await waitUntil(
          'the Sentinel named a replica primary',
          async () => ports.includes(await primaryPort()),
          20_000,
        );
        const promoted = await primaryPort();
        await waitUntil(
          'the promoted replica took the primary role, the other one following it',
          async () => /role:master[\s\S]*slave0:.*state=online/.test(await info(promoted, 'replication')),
          20_000,
        ).catch((error) => {
          throw new Error(`${error.message}\n${sentinel.output().slice(-3000)}`);
        });
      },
      async stop() {
        for (const process of started) await process.stop();
      },
    };
  } catch (error) {
    for (const process of started) await process.stop();
    throw error;
  }
}

/** One section of INFO from the server on `port` ('' when it does not answer). */
export async function info(port: number, section: string): Promise<string> {
  const client = new Valkey({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.info(section);
  } catch {
    return '';
  } finally {
    client.disconnect();
  }
}
