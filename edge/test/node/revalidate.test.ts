/**
 * KEYSET_REVALIDATE where there is no location cache (Node; Deno and Bun likewise): every edge asks the real
 * control plane's GET /keyset itself (env storage, over loopback), conditionally, at most once per interval, in
 * the background of the request that noticed it was due. Fake clock; requests counted at the edge's fetch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelopeEtag as controlPlaneEtag } from '../../../control-plane/src/http-server.ts';
import { type Harness, startHarness } from '../../../test/support/control-plane-harness.ts';
import { postVerify, verifyError } from '../../../test/support/edge-requests.ts';
import { EDGE_KEYS, secret, signByHand } from '../../../test/support/keysets.ts';
import { createEdge } from '../../src/create-edge.ts';
import { envelopeEtag } from '../../src/keyset/sources/url-keyset-source.ts';

const R = 30_000;
let controlPlane: Harness;

beforeAll(async () => {
  controlPlane = await startHarness({
    keysetKey: EDGE_KEYS.KEYSET_KEY,
    env: { SECRET_STORAGE: 'env', JWT_SECRET: secret('revalidate-node-first') },
  });
});

afterAll(async () => {
  await controlPlane?.stop();
});

/**
 * An edge on the control plane, on `clock`, its keyset requests to the origin recorded with their answers (the
 * revocation list's pulls beside them are not).
 */
function edgeOnControlPlane(clock: { now: number }) {
  const seen: { ifNoneMatch: string | null; status: number }[] = [];
  let revocationPulls = 0;
  const edge = createEdge({
    env: { ...EDGE_KEYS, KEYSET_URL: controlPlane.keysetUrl, KEYSET_REVALIDATE: '30s' },
    now: () => clock.now,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      if (new URL(new Request(input).url).pathname.endsWith('/revocations')) {
        revocationPulls++;
        return response;
      }
      seen.push({ ifNoneMatch: new Headers(init?.headers).get('if-none-match'), status: response.status });
      return response;
    },
    log: () => {},
  });
  return { edge, seen, revocationPulls: () => revocationPulls };
}

/** Polls `check`, bounded, while background work finishes. */
async function until(check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

let rotations = 0;
function fresh(label: string): string {
  return secret(`revalidate-node-${label}-${++rotations}`);
}

describe('KEYSET_REVALIDATE without a location cache (Node)', () => {
  it('every edge asks the origin itself, with If-None-Match, at most once per interval', async () => {
    const held = fresh('held');
    await controlPlane.rotate(held);
    const clock = { now: Date.now() };
    const edges = [edgeOnControlPlane(clock), edgeOnControlPlane(clock)];
    const token = await signByHand(held, { sub: 'u' });
    for (const { edge } of edges) expect(await verifyError(edge, token)).toBeUndefined();
    expect(edges.map(({ seen }) => seen)).toEqual([
      [{ ifNoneMatch: null, status: 200 }],
      [{ ifNoneMatch: null, status: 200 }],
    ]);

    const etag = await envelopeEtag(await controlPlane.fetchEnvelope());
    for (let interval = 1; interval <= 3; interval++) {
      clock.now += R;
      for (let i = 0; i < 5; i++) {
        for (const { edge } of edges) expect(await verifyError(edge, token)).toBeUndefined();
      }
      // Until each pull is over, the revocation list's beside the keyset's included: a request while one runs
      // starts none.
      for (const { seen, revocationPulls } of edges) {
        expect(await until(() => seen.length === 1 + interval && revocationPulls() === 1 + interval)).toBe(
          true,
        );
      }
    }
    for (const { seen } of edges)
      expect(seen.slice(1)).toEqual(Array(3).fill({ ifNoneMatch: etag, status: 304 }));
  });

  it('an edge the push missed refuses an emergency-revoked key after its next revalidation', async () => {
    const [old, next] = [fresh('old'), fresh('next')];
    await controlPlane.rotate(old);
    const clock = { now: Date.now() };
    const { edge, seen } = edgeOnControlPlane(clock);
    const oldToken = await signByHand(old, { sub: 'u' });
    expect(await verifyError(edge, oldToken)).toBeUndefined();

    // No EDGE_URLS: nothing is pushed; the edge learns it at its next revalidation, not at KEYSET_TTL.
    await controlPlane.rotate(next, { emergency: true });
    clock.now += R - 1;
    expect(await verifyError(edge, oldToken)).toBeUndefined();
    expect(seen).toHaveLength(1);
    clock.now += 1;
    // The request that notices the interval has passed is answered with what the edge holds.
    expect(await verifyError(edge, oldToken)).toBeUndefined();
    expect(await until(async () => (await verifyError(edge, oldToken)) === 'signature_invalid')).toBe(true);
    expect(await verifyError(edge, await signByHand(next, { sub: 'u' }))).toBeUndefined();
    expect(seen).toEqual([
      { ifNoneMatch: null, status: 200 },
      { ifNoneMatch: expect.stringMatching(/^"[\w-]{43}"$/), status: 200 },
    ]);
  });

  it('checks an ETag copied from another isolate as the control plane makes it: the SHA-256 of the envelope', async () => {
    const response = await fetch(controlPlane.keysetUrl);
    const envelope = await response.text();
    expect(response.headers.get('etag')).toBe(controlPlaneEtag(envelope));
    expect(await envelopeEtag(envelope)).toBe(controlPlaneEtag(envelope));
  });

  it('has no location cache on Node: the default is to ask the origin', async () => {
    const clock = { now: Date.now() };
    const { edge, seen } = edgeOnControlPlane(clock);
    const response = await postVerify(edge, 'x.y.z');
    await response.body?.cancel();
    clock.now += R;
    expect((await edge.refresh('revalidate')).via).toBeUndefined();
    expect(seen.map(({ status }) => status)).toEqual([200, 304]);
  });
});
