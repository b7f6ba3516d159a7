/**
 * Recovery against a real valkey-server: Valkey rolled back to an older RDB, a rotation whose writer pushes
 * nothing (a drain, a crashed writer), a changed KEYSET_KEY, a version stored without its keyset, and a start
 * that fails half-way. Edges are real (the Node entry's listener on loopback).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import type { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { activeKey, type Keyset } from '../../shared/keyset.ts';
import { parseKeysetKey } from '../../shared/keyset-envelope.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { freePort } from '../../test/support/free-port.ts';
import { replicaFactory } from '../../test/support/keyset-replica.ts';
import { FOREIGN_SIGNING_KEY, KEYSET_SIGNING_KEY } from '../../test/support/keysets.ts';
import { startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import { connectAdmin, expectConsistent, secretOf } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { loadConfig } from '../src/config.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane.ts';
import { StorageUnavailableError } from '../src/errors.ts';
import { connectSecretService } from '../src/grpc/secret-service-client.ts';
import { createLogger } from '../src/logger.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY_TEXT = randomBytes(32).toString('base64url');
const KEYSET_KEY = parseKeysetKey(KEYSET_KEY_TEXT);
const ADMIN_TOKEN = randomBytes(48).toString('base64url');

let serial = 0;
const newSecret = (label: string) => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('recovery', () => {
  let valkey: ValkeyServer;
  let admin: Valkey;
  let dir: string;
  const cleanups: Array<() => Promise<void>> = [];

  const openReplica = replicaFactory(KEYSET_KEY, cleanups);
  const replica = () => openReplica(valkey.url);

  function config(env: Record<string, string> = {}) {
    return loadConfig({
      ADMIN_TOKEN,
      VALKEY_URL: valkey.url,
      KEYSET_KEY: KEYSET_KEY_TEXT,
      KEYSET_SIGNING_KEY,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      ROTATION_INTERVAL: 'off',
      ...env,
    });
  }

  async function startPlane(env: Record<string, string> = {}) {
    const logLines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
    const started = await startControlPlane(config(env), logger);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await started.stop();
    };
    cleanups.push(stop);
    return { controlPlane: started as ControlPlane, logLines, stop };
  }

  async function edgeServer(keysetKey = KEYSET_KEY_TEXT) {
    const server = await startNodeEdgeServer(keysetKey);
    cleanups.push(() => server.close());
    return server;
  }

  /** Connections Valkey has open besides `admin`'s. */
  async function otherClients(): Promise<number> {
    const list = (await admin.client('LIST')) as string;
    return list.trim().split('\n').length - 1;
  }

  /** Kills Valkey and restarts it from `rdb`: a restore from an older backup. */
  async function restoreRdb(rdb: string) {
    await valkey.kill();
    await copyFile(rdb, join(dir, 'dump.rdb'));
    await valkey.restart();
    await waitUntil('Valkey answering', async () => (await admin.ping().catch(() => 'down')) === 'PONG');
  }

  beforeAll(async () => {
    // RDB files in a directory of ours, so that a test can put an older one back.
    dir = await mkdtemp(join(tmpdir(), 'keyward-recovery-valkey-'));
    valkey = await startValkey({ dir });
    admin = await connectAdmin(valkey.url);
  });

  afterAll(async () => {
    admin?.disconnect();
    await valkey?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await admin.flushall();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Rotates to v3, saves an RDB, rotates to v5, and restores the RDB: Valkey is back at v3. */
  async function rolledBack() {
    const a = await replica();
    await a.manager.start();
    for (let i = 0; i < 2; i++) await a.manager.rotate({ secret: newSecret('kept') });
    await admin.save();
    const rdb = join(dir, 'v3.rdb');
    await copyFile(join(dir, 'dump.rdb'), rdb);
    const lost: string[] = [];
    for (let i = 0; i < 2; i++) {
      const secret = newSecret('lost');
      lost.push(secret);
      await a.manager.rotate({ secret });
    }
    expect((await a.manager.keyset()).keyset.version).toBe(5);
    await restoreRdb(rdb);
    expect(await admin.get(VALKEY_KEYS.version)).toBe('3');
    return { ...a, lost };
  }

  it('after Valkey is rolled back, rotations succeed with versions above any held before', async () => {
    const { manager, warnings, lost } = await rolledBack();
    // The client reconnects by itself: retry while storage is still unavailable.
    let result: unknown;
    await waitUntil('a rotation after the rollback', async () => {
      result = await manager.rotate({ secret: newSecret('after') }).catch((error: unknown) => error);
      return !(result instanceof StorageUnavailableError);
    });
    expect(result).not.toBeInstanceOf(Error);
    const stored = result as { keyset: Keyset };
    // Neither the keyset version nor the secret version repeats one issued before the rollback.
    expect(stored.keyset.version).toBe(6);
    expect(activeKey(stored.keyset).version).toBe(6);
    const {
      keyset,
      layout: { history },
    } = await expectConsistent(admin, KEYSET_KEY);
    expect(keyset).toEqual(stored.keyset);
    expect(Object.keys(history).map(Number).sort()).toEqual([1, 2, 3, 6]);
    expect(warnings.join('\n')).toMatch(/storage holds keyset version 3, older than version 5 held here/);
    for (const secret of lost) expect(warnings.join('\n')).not.toContain(secret);
    // The next one carries on normally.
    const next = await manager.rotate({ secret: newSecret('next') });
    expect(next.keyset.version).toBe(7);
    await expectConsistent(admin, KEYSET_KEY);
  });

  it('after Valkey is rolled back, a due scheduled rotation rotates instead of returning null', async () => {
    const { manager } = await rolledBack();
    let result: unknown;
    await waitUntil('a scheduled rotation after the rollback', async () => {
      result = await manager.rotateIfDue(0).catch((error: unknown) => error);
      return !(result instanceof StorageUnavailableError);
    });
    expect(result).not.toBeNull();
    expect((result as { keyset: Keyset }).keyset.version).toBe(6);
    await expectConsistent(admin, KEYSET_KEY);
  });

  it('stop() drains a RotateSecret in flight, and its rotation still reaches the edges', async () => {
    const edge = await edgeServer();
    const { controlPlane, stop } = await startPlane({ EDGE_URLS: edge.url });
    await waitUntil('the edge holding version 1', () => edge.edge.store.version === 1);
    const client = connectSecretService(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    try {
      // Writes wait in Valkey until unpaused, so the RPC is in flight when stop() begins.
      await admin.client('PAUSE', 20_000, 'WRITE');
      const rpc = client.rotateSecret(
        { admin_token: ADMIN_TOKEN, new_secret: newSecret('draining') },
        { deadlineMs: 20_000 },
      );
      await waitUntil('the rotation waiting in Valkey', async () =>
        /blocked_clients:[1-9]/.test(await admin.info('clients')),
      );
      const stopping = stop();
      await admin.client('UNPAUSE');
      expect(await rpc).toMatchObject({ success: true, version: 2 });
      await stopping;
      expect(edge.edge.store.version).toBe(2);
    } finally {
      await admin.client('UNPAUSE');
      client.close();
    }
  });

  it('a rotation whose writer pushed nothing reaches the edges through another replica, once', async () => {
    const edge = await edgeServer();
    await startPlane({ EDGE_URLS: edge.url });
    await waitUntil('the edge holding version 1', () => edge.edge.store.version === 1);
    // The writer: a replica that commits and crashes before pushing (or whose Lua reply was lost).
    const writer = await replica();
    await writer.manager.start();
    for (const version of [2, 3]) {
      await writer.manager.rotate({ secret: newSecret('elsewhere') });
      await waitUntil(`the edge holding version ${version}`, () => edge.edge.store.version === version);
    }
    // A later re-read of the same version does not push again.
    await sleep(200);
    expect(edge.puts.map((put) => put.version)).toEqual([1, 2, 3]);
    expect(edge.puts.every((put) => put.status === 200)).toBe(true);
  });

  // The first start seals (KEYSET_KEY) or signs (KEYSET_SIGNING_KEY) with a key the second start and the edges do
  // not have: an earlier key, or one an attacker wrote with.
  it.each([
    ['KEYSET_KEY', randomBytes(32).toString('base64url'), KEYSET_KEY_TEXT],
    ['KEYSET_SIGNING_KEY', FOREIGN_SIGNING_KEY, KEYSET_SIGNING_KEY],
  ])(
    'a changed %s re-seals the stored keyset at start as a new version, which edges take',
    async (variable, oldKey, newKey) => {
      const first = await startPlane({ [variable]: oldKey });
      await first.controlPlane.manager.rotate({ secret: newSecret(`before-${variable}`) });
      const before = (await first.controlPlane.manager.keyset()).keyset;
      await first.stop();

      const edge = await edgeServer(KEYSET_KEY_TEXT);
      const second = await startPlane({ EDGE_URLS: edge.url });
      const stored = await second.controlPlane.manager.keyset();
      expect(stored.keyset.version).toBe(before.version + 1);
      expect(stored.keyset.keys).toEqual(before.keys);
      // expectConsistent opens with the test KEYSET_KEY and KEYSET_VERIFY_KEY: the stored envelope is now made with them.
      const { keyset } = await expectConsistent(admin, KEYSET_KEY);
      expect(keyset).toEqual(stored.keyset);
      await waitUntil(
        'the edge holding the re-sealed keyset',
        () => edge.edge.store.version === keyset.version,
      );
      expect(edge.puts.some((put) => put.status === 401)).toBe(false);

      const logged = second.logLines.map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(logged).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: expect.stringMatching(
            /did not open with KEYSET_KEY or was not signed by KEYSET_SIGNING_KEY: re-sealed/,
          ),
        }),
      );
      const text = [...first.logLines, ...second.logLines].join('\n');
      for (const secret of [oldKey, newKey, ADMIN_TOKEN, secretOf(before)])
        expect(text.includes(secret), 'a log line holds secret material').toBe(false);
    },
  );

  it('a version stored without its keyset stops the start with the keys named, and leaves nothing running', async () => {
    await admin.set(VALKEY_KEYS.version, '7');
    const failure = await startControlPlane(config(), createLogger('silent')).then(
      (started) => {
        cleanups.push(() => started.stop());
        return undefined;
      },
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toMatch(/jwt_secrets:version is set but jwt_secrets:state is missing/);
    await waitUntil('Valkey connections closed', async () => (await otherClients()) === 0);
  });

  it('a server that cannot bind stops the start and leaves no connection or server running', async () => {
    const taken = createTcpServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const grpcPort = await freePort();
    try {
      const failure = await startControlPlane(
        config({
          GRPC_PORT: String(grpcPort),
          HTTP_PORT: String((taken.address() as { port: number }).port),
        }),
        createLogger('silent'),
      ).then(
        (started) => {
          cleanups.push(() => started.stop());
          return undefined;
        },
        (error: unknown) => error as Error,
      );
      expect(failure).toBeInstanceOf(Error);
      await waitUntil('Valkey connections closed', async () => (await otherClients()) === 0);
      // The gRPC server that did bind was shut down: its port is free again.
      const probe = createTcpServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(grpcPort, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => probe.close(resolve));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
