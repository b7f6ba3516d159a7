/**
 * The per-edge inventory the pusher keeps from real edges' answers to PUT /keyset: the kids of the confirmed
 * keyset, when the edge last confirmed, and its clock offset with the round trip as the bound, for edges on
 * time, edges whose clock is off, an edge that answers as edges did before these members, and one unreachable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type LoopbackEdge,
  startOlderEdge,
  startSkewedEdgeServer,
  unreachableUrl,
} from '../../test/support/inventory-edges.ts';
import { KEYSET_KEY, storedKeysets, usePushFixtures } from '../../test/support/misbehaving-edge.ts';
import { startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import type { EdgeTargetState } from '../src/push/edge-pusher.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

const { edgeServer, pusher } = usePushFixtures();
const edges: LoopbackEdge[] = [];
afterEach(async () => {
  await Promise.all(edges.splice(0).map((edge) => edge.close()));
});

async function track(edge: Promise<LoopbackEdge>): Promise<LoopbackEdge> {
  edges.push(await edge);
  return edges.at(-1) as LoopbackEdge;
}

function targetFor(targets: EdgeTargetState[], url: string): EdgeTargetState {
  const target = targets.find((candidate) => candidate.url === url);
  if (target === undefined) throw new Error(`no target ${url}`);
  return target;
}

/**
 * The offset is the edge's time minus the midpoint of the request: it misses the true skew by at most half the
 * round trip, plus a millisecond for each clock's resolution and half of one for rounding.
 */
function expectOffsetNear(target: EdgeTargetState, skewMs: number): void {
  expect(target.clockOffsetMs).not.toBeNull();
  expect(target.rttMs).not.toBeNull();
  const rtt = target.rttMs as number;
  expect(rtt).toBeGreaterThanOrEqual(0);
  expect(Math.abs((target.clockOffsetMs as number) - skewMs)).toBeLessThanOrEqual(rtt / 2 + 2.5);
}

const kidsOf = (stored: StoredKeyset) => stored.keyset.keys.map((key) => key.kid);

describe('the per-edge inventory from the push exchange (real edges on loopback)', () => {
  it('after a push each edge shows the kids it holds, its confirmation time and a clock offset near 0', async () => {
    const [v1, v2] = (await storedKeysets()) as [StoredKeyset, StoredKeyset];
    const first = await track(startNodeEdgeServer(KEYSET_KEY));
    const second = await edgeServer();
    const p = pusher({ urls: [first.url, second.url], backgroundRetries: 0 });
    const before = Date.now();
    await p.pushAll(v1);
    for (const url of [first.url, second.url]) {
      const target = targetFor(p.targets, url);
      expect(target).toMatchObject({ confirmedVersion: 1, lastError: '', kids: kidsOf(v1) });
      expect(target.lastSuccessAt?.getTime()).toBeGreaterThanOrEqual(before);
      expect(target.lastSuccessAt?.getTime()).toBeLessThanOrEqual(Date.now());
      expectOffsetNear(target, 0);
    }
    // The next version's kids replace the first's: the new key and the one it superseded.
    await p.pushAll(v2);
    expect(kidsOf(v2)).toHaveLength(2);
    for (const url of [first.url, second.url]) {
      expect(targetFor(p.targets, url)).toMatchObject({ confirmedVersion: 2, kids: kidsOf(v2) });
    }
  });

  it('an edge whose clock is off shows that offset, within the round-trip bound', async () => {
    const [v1] = (await storedKeysets()) as [StoredKeyset];
    const skews = [90_000, -2_700_000, 1_234];
    const skewed = await Promise.all(skews.map((skew) => track(startSkewedEdgeServer(KEYSET_KEY, skew))));
    const p = pusher({ urls: skewed.map((edge) => edge.url), backgroundRetries: 0 });
    const outcomes = await p.pushAll(v1);
    expect(outcomes.every((outcome) => outcome.confirmed)).toBe(true);
    for (const [index, edge] of skewed.entries()) {
      const target = targetFor(p.targets, edge.url);
      expect(target.kids).toEqual(kidsOf(v1));
      expectOffsetNear(target, skews[index] as number);
    }
  });

  it('an unreachable edge shows its error, no confirmation, and nothing it holds or its clock', async () => {
    const [v1] = (await storedKeysets()) as [StoredKeyset];
    const healthy = await edgeServer();
    const down = await unreachableUrl();
    const p = pusher({ urls: [healthy.url, down], retries: 0, backgroundRetries: 0 });
    const outcomes = await p.pushAll(v1);
    expect(outcomes.map((outcome) => outcome.confirmed)).toEqual([true, false]);
    const target = targetFor(p.targets, down);
    expect(target.lastError).toMatch(/^unreachable: /);
    expect(target).toMatchObject({
      confirmedVersion: 0,
      lastSuccessAt: null,
      kids: null,
      clockOffsetMs: null,
      rttMs: null,
    });
    expect(targetFor(p.targets, healthy.url).kids).toEqual(kidsOf(v1));
  });

  it('an edge that went down keeps what it last confirmed and its last offset, with the error beside them', async () => {
    const [v1, v2] = (await storedKeysets()) as [StoredKeyset, StoredKeyset];
    const edge = await edgeServer();
    const p = pusher({ urls: [edge.url], retries: 0, backgroundRetries: 0 });
    await p.pushAll(v1);
    const confirmed = targetFor(p.targets, edge.url);
    await edge.down();
    await p.pushAll(v2);
    const after = targetFor(p.targets, edge.url);
    expect(after.lastError).toMatch(/^unreachable: /);
    expect(after).toMatchObject({
      confirmedVersion: 1,
      kids: kidsOf(v1),
      lastSuccessAt: confirmed.lastSuccessAt,
      clockOffsetMs: confirmed.clockOffsetMs,
      rttMs: confirmed.rttMs,
    });
  });

  it('an edge answering only {"version": N} still confirms; its kids and clock are unknown', async () => {
    const [v1] = (await storedKeysets()) as [StoredKeyset];
    const older = await track(startOlderEdge(KEYSET_KEY));
    const p = pusher({ urls: [older.url], backgroundRetries: 0 });
    const [outcome] = await p.pushAll(v1);
    expect(outcome).toMatchObject({ confirmed: true, version: 1, error: '' });
    expect(older.edge.store.version).toBe(1);
    const target = targetFor(p.targets, older.url);
    expect(target).toMatchObject({ confirmedVersion: 1, kids: null, clockOffsetMs: null, rttMs: null });
    expect(target.lastSuccessAt).not.toBeNull();
  });

  it('a 409 naming a newer version confirms that version, with its kids unknown rather than the older ones', async () => {
    const [v1, v2, v3] = (await storedKeysets()) as [StoredKeyset, StoredKeyset, StoredKeyset];
    const edge = await edgeServer();
    const p = pusher({ urls: [edge.url], retries: 0, backgroundRetries: 0 });
    await p.pushAll(v1);
    expect(targetFor(p.targets, edge.url).kids).toEqual(kidsOf(v1));
    // Another replica pushes version 3; this one then pushes 2, which the edge answers 409 with 3.
    const taken = await edge.edge.fetch(
      new Request('http://edge.test/keyset', { method: 'PUT', body: v3.envelope }),
    );
    expect(taken.status).toBe(200);
    const [outcome] = await p.pushAll(v2);
    expect(outcome).toMatchObject({ confirmed: true, version: 3 });
    expect(targetFor(p.targets, edge.url)).toMatchObject({ confirmedVersion: 3, kids: null });
    // Pushing version 3 itself names its kids again.
    await p.pushAll(v3);
    expect(targetFor(p.targets, edge.url)).toMatchObject({ confirmedVersion: 3, kids: kidsOf(v3) });
  });
});
