/**
 * Two control-plane replicas on one real valkey-server keeping one rotation schedule, each on its own fake clock:
 * exactly one stages each key and exactly one promotes it, whether the lock in Valkey decides (clocks in one
 * retry window) or, with clocks on either side of a window, the compare-and-swap does; the replica that loses
 * says nothing above debug. A blocked promotion shows on the replica that did not try it too.
 */
import { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findActiveKey, findStandbyKey } from '../../shared/keyset.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { freePort } from '../../test/support/free-port.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import {
  type ScheduledControlPlane,
  startScheduledControlPlane,
} from '../../test/support/scheduled-control-plane.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { auditValkey } from '../src/audit/audit-command.ts';
import type { AuditEntry } from '../src/audit/audit-entry.ts';
import type { TickResult } from '../src/rotation/rotation-scheduler.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const INTERVAL = 90 * DAY;
const T0 = new Date('2031-03-01T00:00:00.000Z');
const RETRY_MS = 30_000;

let valkey: ValkeyServer;
let reader: Valkey;
const running: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  valkey = await startValkey();
  reader = new Valkey(valkey.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  reader?.disconnect();
  await valkey?.stop();
});

afterEach(async () => {
  for (const part of running.splice(0).reverse()) await part.stop();
  await reader.flushall();
});

async function startEdge(port = 0): Promise<NodeEdgeServer> {
  const edge = await startNodeEdgeServer(KEYSET_KEY, port);
  running.push({ stop: () => edge.close() });
  return edge;
}

interface Replica {
  clock: FakeClock;
  cp: ScheduledControlPlane;
}

/** Two replicas over the one Valkey, both clocks at T0 (the first one bootstraps the keyset then). */
async function startReplicas(edgeUrls: string[]): Promise<[Replica, Replica]> {
  const replicas: Replica[] = [];
  for (let i = 0; i < 2; i++) {
    const clock = new FakeClock(T0);
    const cp = await startScheduledControlPlane({ clock, valkeyUrl: valkey.url, edgeUrls });
    running.push(cp);
    replicas.push({ clock, cp });
  }
  return replicas as [Replica, Replica];
}

async function auditLog(): Promise<AuditEntry[]> {
  return (await reader.lrange(VALKEY_KEYS.audit, 0, -1)).map((text) => JSON.parse(text) as AuditEntry);
}

async function storedActiveKid(cp: ScheduledControlPlane): Promise<string | undefined> {
  await waitUntil('the replica reads what Valkey holds', async () => {
    const state = JSON.parse((await reader.get(VALKEY_KEYS.state)) as string) as { version: number };
    return (await cp.controlPlane.manager.keyset()).keyset.version === state.version;
  });
  return findActiveKey((await cp.controlPlane.manager.keyset()).keyset)?.kid;
}

/** How many locks named `prefix`... are held in Valkey (one per replica that went for the step). */
async function locksTaken(prefix: string): Promise<number> {
  return (await reader.keys(`${VALKEY_KEYS.lockPrefix}${prefix}*`)).length;
}

/** The steps two replicas made at once: exactly one `step`, the other `none`. */
function oneMade(results: TickResult[], step: TickResult['step']): string {
  expect(results.map((result) => result.step).sort()).toEqual([step, 'none'].sort());
  return (results.find((result) => result.step === step) as { kid: string }).kid;
}

/** Log lines at warn or above from either replica after its first `from` lines (start-up's). */
function loud(replicas: Replica[], from: number[]): unknown[] {
  return replicas.flatMap(({ cp }, i) => cp.logs.slice(from[i]).filter((line) => line.level >= 40));
}

describe('two replicas under one schedule (real Valkey)', () => {
  it('stage exactly one key and promote it once, by the lock in one window and by the swap across windows', async () => {
    const edges = await Promise.all([startEdge(), startEdge()]);
    const replicas = await startReplicas(edges.map((edge) => edge.url));
    const [a, b] = replicas;
    const started = replicas.map(({ cp }) => cp.logs.length);
    const firstDue = T0.getTime() + INTERVAL;

    // Both clocks in one retry window: the lock lets one replica make each step.
    for (const { clock } of replicas) clock.set(new Date(firstDue - HOUR));
    const stagedKid = oneMade(await Promise.all([a.cp.scheduler.tick(), b.cp.scheduler.tick()]), 'staged');
    for (const { clock } of replicas) clock.set(new Date(firstDue));
    const promoted = await Promise.all([a.cp.scheduler.tick(), b.cp.scheduler.tick()]);
    expect(oneMade(promoted, 'promoted')).toBe(stagedKid);
    expect(await storedActiveKid(a.cp)).toBe(stagedKid);
    expect(await storedActiveKid(b.cp)).toBe(stagedKid);

    // The next cycle with the clocks a window apart: both pass the lock, the compare-and-swap decides.
    const secondDue = firstDue - HOUR + INTERVAL;
    a.clock.set(new Date(secondDue - HOUR));
    b.clock.set(new Date(secondDue - HOUR + RETRY_MS));
    await storedActiveKid(a.cp);
    await storedActiveKid(b.cp);
    const nextKid = oneMade(await Promise.all([a.cp.scheduler.tick(), b.cp.scheduler.tick()]), 'staged');
    expect(await locksTaken(`scheduled-stage:${stagedKid}:`)).toBe(2);
    a.clock.set(new Date(secondDue + HOUR));
    b.clock.set(new Date(secondDue + HOUR + RETRY_MS));
    await storedActiveKid(a.cp);
    await storedActiveKid(b.cp);
    expect(oneMade(await Promise.all([a.cp.scheduler.tick(), b.cp.scheduler.tick()]), 'promoted')).toBe(
      nextKid,
    );
    expect(await locksTaken(`scheduled-promote:${nextKid}:`)).toBe(2);
    expect(await storedActiveKid(a.cp)).toBe(nextKid);

    const scheduled = (await auditLog()).filter((entry) => entry.actor === 'scheduler');
    expect(scheduled.map((entry) => [entry.action, entry.kid])).toEqual([
      ['stage', stagedKid],
      ['promote', stagedKid],
      ['stage', nextKid],
      ['promote', nextKid],
    ]);
    expect(await auditValkey(valkey.url)).toMatchObject({ ok: true });
    expect(loud(replicas, started)).toEqual([]);
    const messages = replicas.flatMap(({ cp }) =>
      cp.logs.filter((line) => line.scheduled).map((line) => line.msg),
    );
    expect(messages.sort()).toEqual([
      'Rotating JWT secret: promoting standby key',
      'Rotating JWT secret: promoting standby key',
      'Staging standby key',
      'Staging standby key',
    ]);
  });

  it('shows a blocked promotion on the replica that did not try it, from its own pushes', async () => {
    const live = await startEdge();
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const replicas = await startReplicas([live.url, deadUrl]);
    const [a, b] = replicas;
    const due = new Date(T0.getTime() + INTERVAL);
    for (const { clock } of replicas) clock.set(new Date(due.getTime() - HOUR));
    const kid = oneMade(await Promise.all([a.cp.scheduler.tick(), b.cp.scheduler.tick()]), 'staged');
    for (const { clock } of replicas) clock.set(due);
    const results = await Promise.all([a.cp.scheduler.tick(), b.cp.scheduler.tick()]);
    expect(results.map((result) => result.step).sort()).toEqual(['blocked', 'none']);
    const loser = results[0]?.step === 'none' ? a : b;
    // Within the first retry window the replica that did not try still reports the key as staged...
    expect(await loser.cp.scheduler.status()).toMatchObject({ phase: 'staged', standby_kid: kid });
    // ...and once a whole window has passed without a promotion, as blocked by the edge its pushes never reached.
    for (const { clock } of replicas) clock.advance(RETRY_MS);
    await waitUntil(
      'the replica has pushed the staged keyset to the live edge',
      async () => (await loser.cp.scheduler.status()).unconfirmed_edges === 1,
    );
    expect((await loser.cp.httpJson('/healthz')).body.rotation).toMatchObject({
      phase: 'blocked',
      standby_kid: kid,
      due_at: due.toISOString(),
      unconfirmed_edges: 1,
      unconfirmed_urls: [deadUrl],
      blocked_since: due.toISOString(),
    });
    expect(findStandbyKey((await loser.cp.controlPlane.manager.keyset()).keyset)?.kid).toBe(kid);
  });
});
