/**
 * KEYSET_REVALIDATE under workerd, where `caches.default` exists: edges built in this isolate stand for isolates
 * of one location (they share the cache, as isolates of one data center do), on one fake clock. The origin
 * answers as the control plane's GET /keyset does (test/support/keyset-origin.ts: workerd cannot run the control
 * plane); edge/test/node/revalidate.test.ts and test/e2e/isolate-convergence.e2e.test.ts pull from the real one.
 * Requests go through an ExecutionContext, so a background revalidation runs in ctx.waitUntil as on Workers.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import type { KVNamespace } from '@cloudflare/workers-types/index.ts';
import { describe, expect, it } from 'vitest';
import { KeysetOrigin, sha256Etag } from '../../../test/support/keyset-origin.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_SIGNING_KEY,
  KEYSET_KEY,
  seal,
  secret,
  signByHand,
} from '../../../test/support/keysets.ts';
import { parseEdgeConfig } from '../../src/config.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import { EdgeError } from '../../src/errors.ts';
import { type LocationCache, LocationCopy } from '../../src/keyset/sources/location-copy.ts';

const R = 30_000;
const S1 = secret('revalidate-one');
const S2 = secret('revalidate-two');
const S3 = secret('revalidate-three');

let locations = 0;

/** A location: isolates sharing caches.default, pulling from `origin` at their own KEYSET_URL, on `clock`. */
function locationOf(origin: KeysetOrigin, clock: { now: number }, vars: Record<string, string> = {}) {
  // Each test its own KEYSET_URL, so that no copy another test left in caches.default is met.
  const keysetUrl = `https://origin.test/${++locations}/keyset`;
  const logs: string[] = [];
  const isolate = (): Edge =>
    createEdge({
      env: { ...EDGE_KEYS, KEYSET_URL: keysetUrl, KEYSET_REVALIDATE: '30s', ...vars },
      now: () => clock.now,
      fetch: origin.fetch,
      log: (line) => logs.push(line),
    });
  return { keysetUrl, logs, isolate };
}

function verifyRequest(token: string): Request {
  return new Request('http://edge.test/verify', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
}

/** One request as Workers runs it: the answer, and (awaited) whatever it handed to ctx.waitUntil. */
async function serve(edge: Edge, request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await edge.fetch(request, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

async function verifies(edge: Edge, key: string): Promise<boolean> {
  const response = await serve(edge, verifyRequest(await signByHand(key, { sub: 'u' })));
  return ((await response.json()) as { valid: boolean }).valid;
}

describe('KEYSET_REVALIDATE through the location cache (caches.default)', () => {
  it('lets one isolate per interval ask the origin, conditionally; the others take its answer from the cache', async () => {
    const v1 = await seal(await buildKeyset(1, S1));
    const origin = new KeysetOrigin(v1);
    const clock = { now: Date.now() };
    const { isolate } = locationOf(origin, clock);
    const [a, b] = [isolate(), isolate()];
    // Cold starts wait for the origin itself: a copy would not confirm what they hold.
    expect(await verifies(a, S1)).toBe(true);
    expect(await verifies(b, S1)).toBe(true);
    expect(origin.requests).toHaveLength(2);

    const v2 = await seal(await buildKeyset(2, S2, [{ secret: S1 }]));
    origin.envelope = v2;
    clock.now += R;
    // `a` notices first: the location holds no copy yet, so it asks the origin (If-None-Match) and stores the answer.
    expect(await verifies(a, S1)).toBe(true);
    expect(origin.requests).toHaveLength(3);
    expect(origin.requests[2]).toMatchObject({ ifNoneMatch: await sha256Etag(v1), status: 200 });
    expect(a.store.version).toBe(2);
    // `b` takes version 2 from the copy: the origin sees nothing.
    expect(await verifies(b, S1)).toBe(true);
    expect(b.store.version).toBe(2);
    expect(await verifies(b, S2)).toBe(true);
    expect(origin.requests).toHaveLength(3);

    // The next interval, with nothing new: the first isolate asks (a 304, with the ETag `b` took from the copy),
    // the other reads the copy of that 304.
    clock.now += R;
    expect(await verifies(b, S2)).toBe(true);
    expect(origin.requests).toHaveLength(4);
    expect(origin.requests[3]).toMatchObject({ ifNoneMatch: await sha256Etag(v2), status: 304 });
    expect(await verifies(a, S2)).toBe(true);
    expect(origin.requests).toHaveLength(4);
    // Within the interval, however many requests: nothing more.
    for (let i = 0; i < 5; i++) {
      clock.now += R / 10;
      expect(await verifies(a, S2)).toBe(true);
      expect(await verifies(b, S2)).toBe(true);
    }
    expect(origin.requests).toHaveLength(4);
  });

  it('a 304 keeps the keyset and confirms it; the copy of it keeps the keyset and confirms nothing', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(4, S1)));
    const clock = { now: Date.now() };
    const { isolate } = locationOf(origin, clock);
    const [a, b] = [isolate(), isolate()];
    await verifies(a, S1);
    await verifies(b, S1);
    const coldAt = clock.now;
    expect([a.store.confirmedAt, b.store.confirmedAt]).toEqual([coldAt, coldAt]);

    clock.now += R;
    expect(await verifies(a, S1)).toBe(true);
    expect(origin.notModified).toBe(1);
    expect(a.store.version).toBe(4);
    expect(a.store.confirmedAt).toBe(clock.now);
    expect(await verifies(b, S1)).toBe(true);
    expect(origin.requests).toHaveLength(3);
    expect(b.store.version).toBe(4);
    // Only an origin confirms (KEYSET_TTL, KEYSET_MAX_STALENESS): b's confirmation is still its cold start's.
    expect(b.store.confirmedAt).toBe(coldAt);
    expect(b.sync.lastRevalidationAt).toBe(clock.now);
  });

  it('an emergency rotation stops the old key at every isolate within twice KEYSET_REVALIDATE', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, S1)));
    const clock = { now: Date.now() };
    const { isolate } = locationOf(origin, clock);
    const [a, b] = [isolate(), isolate()];
    await verifies(a, S1);
    await verifies(b, S1);

    // The worst case: `a` has just stored a copy of the old keyset when the origin starts serving the new one.
    clock.now += R;
    await verifies(a, S1);
    origin.envelope = await seal(await buildKeyset(2, S3));
    const servedAt = clock.now + 1;
    clock.now = servedAt + R - 2;
    // `b` revalidates from that copy, still fresh: the old key still verifies there, within the bound.
    expect(await verifies(b, S1)).toBe(true);
    expect(b.store.version).toBe(1);
    // `a`'s copy is a full interval old by `a`'s next turn: `a` asks the origin and stores the new keyset.
    clock.now = servedAt + R;
    expect(await verifies(a, S1)).toBe(true);
    expect(await verifies(a, S1)).toBe(false);
    // `b`'s next turn reads that copy.
    clock.now = servedAt + 2 * R - 2;
    expect(await verifies(b, S1)).toBe(true);
    expect(await verifies(b, S1)).toBe(false);
    expect(await verifies(b, S3)).toBe(true);
    expect(clock.now - servedAt).toBeLessThan(2 * R);
  });

  it('answers verifies at once while the origin hangs; the revalidation finishes in the background', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, S1)));
    const clock = { now: Date.now() };
    const { isolate } = locationOf(origin, clock);
    const [a, b] = [isolate(), isolate()];
    await verifies(a, S1);
    await verifies(b, S1);

    origin.hang();
    clock.now += R;
    const token = await signByHand(S1, { sub: 'u' });
    const contexts = [createExecutionContext(), createExecutionContext()];
    const first = await a.fetch(verifyRequest(token), contexts[0]);
    expect(await first.json()).toMatchObject({ valid: true });
    // No copy either while `a` waits: `b` asks the origin too, and is answered as fast.
    const second = await b.fetch(verifyRequest(token), contexts[1]);
    expect(await second.json()).toMatchObject({ valid: true });
    for (let i = 0; i < 200 && origin.pending < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(origin.pending).toBe(2);
    // Both revalidations now wait on the origin; every verify is answered all the same.
    for (let i = 0; i < 3; i++) {
      expect(await verifies(a, S1)).toBe(true);
      expect(await verifies(b, S1)).toBe(true);
    }
    expect(origin.pending).toBe(2);

    origin.envelope = await seal(await buildKeyset(2, S2, [{ secret: S1 }]));
    origin.release();
    for (const ctx of contexts) await waitOnExecutionContext(ctx);
    expect([a.store.version, b.store.version]).toEqual([2, 2]);
  });

  it('a failed revalidation is retried an interval later, not on every request', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, S1)));
    const clock = { now: Date.now() };
    const { isolate, logs } = locationOf(origin, clock);
    const a = isolate();
    await verifies(a, S1);
    origin.envelope = undefined;
    clock.now += R;
    for (let i = 0; i < 5; i++) expect(await verifies(a, S1)).toBe(true);
    expect(origin.requests).toHaveLength(2);
    expect(logs).toEqual([
      'keyset: pull (revalidate) failed: KEYSET_URL: pull_failed: KEYSET_URL answered 404',
    ]);
    clock.now += R;
    await verifies(a, S1);
    expect(origin.requests).toHaveLength(3);
  });

  it('asks the origin past a copy that does not open, and never takes an ETag that is not the envelope hash', async () => {
    const v1 = await seal(await buildKeyset(1, S1));
    const origin = new KeysetOrigin(v1);
    const clock = { now: Date.now() };
    const { isolate, keysetUrl, logs } = locationOf(origin, clock);
    const a = isolate();
    await verifies(a, S1);
    const cache = (caches as unknown as { default: LocationCache }).default;
    // Anyone who can write the zone's cache: a keyset signed by another key, written as a fresh copy.
    const forger = new LocationCopy(cache, keysetUrl, R, () => clock.now);
    clock.now += R;
    await forger.write(
      { envelope: await seal(await buildKeyset(9, S3), KEYSET_KEY, FOREIGN_SIGNING_KEY) },
      clock.now,
    );
    expect(await verifies(a, S3)).toBe(false);
    expect(a.store.version).toBe(1);
    expect(logs.join('\n')).toMatch(/pull \(revalidate\) failed: location cache: /);
    // The origin was asked instead (a 304), and its answer replaced the forged copy.
    expect(origin.requests).toHaveLength(2);
    expect(await forger.read()).toEqual({ envelope: v1, etag: await sha256Etag(v1) });

    // A genuine envelope under an ETag that is not its hash: taken (it is signed), the ETag is not.
    const v2 = await seal(await buildKeyset(2, S2, [{ secret: S1 }]));
    origin.envelope = v2;
    clock.now += R;
    await forger.write({ envelope: v2, etag: '"not-its-hash"' }, clock.now);
    await verifies(a, S1);
    expect(a.store.version).toBe(2);
    clock.now += R;
    await verifies(a, S2);
    expect(origin.requests.at(-1)).toMatchObject({ ifNoneMatch: await sha256Etag(v1), status: 200 });
  });

  it('with the KV mirror bound, an isolate past KEYSET_TTL still revalidates with the origin, not with KV only', async () => {
    // vitest.config.ts binds KEYSETS for the tests (emptied per test file).
    const kv = (env as Env & { KEYSETS: KVNamespace }).KEYSETS;
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, S1)));
    const clock = { now: Date.now() };
    const withKv = createEdge({
      env: {
        ...EDGE_KEYS,
        KEYSET_URL: 'https://origin.test/kv/keyset',
        KEYSET_TTL: '60s',
        KEYSETS: kv as never,
      },
      now: () => clock.now,
      fetch: origin.fetch,
      log: () => {},
    });
    await verifies(withKv, S1);
    // KV holds version 1 (the cold pull copied it there); the origin moves on.
    origin.envelope = await seal(await buildKeyset(2, S3));
    clock.now += 60_000;
    // Past KEYSET_TTL and KEYSET_REVALIDATE at once: a TTL pull alone would ask KV, which has version 1.
    await verifies(withKv, S1);
    expect(withKv.store.version).toBe(2);
    expect(await verifies(withKv, S1)).toBe(false);
  });

  it('KEYSET_REVALIDATE=off leaves only KEYSET_TTL; zero or a non-duration stops start-up naming it', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, S1)));
    const clock = { now: Date.now() };
    const a = locationOf(origin, clock, { KEYSET_REVALIDATE: 'off', KEYSET_TTL: '300s' }).isolate();
    await verifies(a, S1);
    clock.now += 299_000;
    await verifies(a, S1);
    expect(origin.requests).toHaveLength(1);
    clock.now += 1_000;
    await verifies(a, S1);
    expect(origin.requests).toHaveLength(2);

    expect(parseEdgeConfig({ ...EDGE_KEYS }).keysetRevalidateMs).toBe(30_000);
    expect(parseEdgeConfig({ ...EDGE_KEYS, KEYSET_REVALIDATE: '500ms' }).keysetRevalidateMs).toBe(500);
    for (const value of ['0s', 'soon', '-1s']) {
      expect(() => parseEdgeConfig({ ...EDGE_KEYS, KEYSET_REVALIDATE: value })).toThrow(
        expect.objectContaining({
          code: 'config_invalid',
          message: expect.stringMatching(/^KEYSET_REVALIDATE: /),
        }),
      );
    }
    expect(() => parseEdgeConfig({ ...EDGE_KEYS, KEYSET_REVALIDATE: '0s' })).toThrow(EdgeError);
  });
});
