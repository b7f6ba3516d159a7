/**
 * The restore scenario, as an operator lives it: rotate to v3 with a secret that then leaks, restore Valkey from
 * the backup taken at v2 (its RDB copied back, valkey-server restarted on it), restart the control plane, run
 * the emergency rotation. When the RotateSecret call returns, every edge refuses tokens of the leaked secret and
 * accepts the new one, and the answer says every edge confirmed. Real valkey-server, the real control plane
 * (startControlPlane, gRPC over loopback) and real Node edges.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Valkey } from 'iovalkey';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import { newKeysetKey, newSecret, signToken } from '../../test/support/sign-token.ts';
import { connectAdmin } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = newKeysetKey();
let dir: string;
let valkey: ValkeyServer;
let admin: Valkey;
let edges: NodeEdgeServer[] = [];
const planes: Harness[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyward-restore-valkey-'));
  valkey = await startValkey({ dir });
  admin = await connectAdmin(valkey.url);
  edges = [await startNodeEdgeServer(KEYSET_KEY), await startNodeEdgeServer(KEYSET_KEY)];
});

afterAll(async () => {
  for (const plane of planes) await plane.stop().catch(() => {});
  for (const edge of edges) await edge.close();
  admin?.disconnect();
  await valkey?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function controlPlane(): Promise<Harness> {
  const plane = await startHarness({
    valkeyUrl: valkey.url,
    keysetKey: KEYSET_KEY,
    edgeUrls: edges.map((edge) => edge.url),
  });
  planes.push(plane);
  return plane;
}

/** What an edge answers to a token signed with `secret` (its kid included). */
async function verdict(edge: NodeEdgeServer, secret: string, kid: string): Promise<string> {
  const response = await fetch(`${edge.url}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: signToken(secret, kid) }),
  });
  const body = (await response.json()) as { valid: boolean; error?: string };
  return body.valid ? 'valid' : (body.error ?? `HTTP ${response.status}`);
}

it('after a restore from the v2 backup, the emergency rotation retires the leaked v3 secret at every edge', async () => {
  const first = await controlPlane();
  const kept = newSecret();
  expect((await first.rotate(kept)).version).toBe(2);
  await admin.save();
  const backup = join(dir, 'v2.rdb');
  await copyFile(join(dir, 'dump.rdb'), backup);

  const leaked = newSecret();
  const leakedRotation = await first.rotate(leaked);
  expect(leakedRotation.version).toBe(3);
  expect(leakedRotation.edges.every((edge) => edge.confirmed)).toBe(true);
  for (const edge of edges) expect(await verdict(edge, leaked, leakedRotation.kid)).toBe('valid');

  // The restore: the control plane stops, Valkey goes back to the RDB taken at v2, the control plane starts.
  await first.stop();
  await valkey.kill();
  await copyFile(backup, join(dir, 'dump.rdb'));
  await valkey.restart();
  await waitUntil('Valkey answering', async () => (await admin.ping().catch(() => 'down')) === 'PONG');
  expect(await admin.get(VALKEY_KEYS.version)).toBe('2');
  const second = await controlPlane();

  const fresh = newSecret();
  const emergency = await second.rotate(fresh, { emergency: true });
  // Right after the call: no waiting for a pull, a TTL or a background retry.
  for (const edge of edges) {
    expect(await verdict(edge, leaked, leakedRotation.kid)).not.toBe('valid');
    expect(await verdict(edge, fresh, emergency.kid)).toBe('valid');
    expect(edge.edge.store.version).toBe(Number(emergency.version));
  }
  expect(emergency.edges).toHaveLength(edges.length);
  expect(emergency.edges.every((edge) => edge.confirmed)).toBe(true);
  expect(emergency.message).toContain(`${edges.length}/${edges.length} edges confirmed`);
  expect(Number(emergency.version)).toBeGreaterThan(leakedRotation.version);
});
