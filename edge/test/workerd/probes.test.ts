/**
 * The edge's probes under workerd: GET /livez answers 200 whatever the keyset (a restart brings no keyset
 * back), GET /readyz answers 200 only while the edge verifies, and 503 with /healthz's reason otherwise.
 */
import { describe, expect, it } from 'vitest';
import { health, putKeyset } from '../../../test/support/edge-requests.ts';
import { KeysetOrigin } from '../../../test/support/keyset-origin.ts';
import { buildKeyset, EDGE_KEYS, seal, secret } from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';

const S1 = secret('probes-one');

async function probe(edge: Edge, path: '/livez' | '/readyz') {
  const response = await edge.fetch(new Request(`http://edge.test${path}`));
  return {
    status: response.status,
    cacheControl: response.headers.get('cache-control'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

const LIVE = { status: 200, cacheControl: 'no-store', body: { status: 'ok' } };
const READY = { status: 200, cacheControl: 'no-store', body: { status: 'ready' } };

function notReady(reason: string) {
  return { status: 503, cacheControl: 'no-store', body: { status: 'not_ready', reasons: [reason] } };
}

describe('GET /livez and GET /readyz', () => {
  it('without a keyset: live, not ready (no_keyset); after a push: ready', async () => {
    const edge = createEdge({ env: { ...EDGE_KEYS }, log: () => {} });
    expect(await probe(edge, '/livez')).toEqual(LIVE);
    expect(await probe(edge, '/readyz')).toEqual(notReady('no_keyset'));
    expect(await health(edge)).toMatchObject({ status: 503, body: { status: 'no_keyset' } });

    expect((await putKeyset(edge, await seal(await buildKeyset(1, S1)))).status).toBe(200);
    expect(await probe(edge, '/readyz')).toEqual(READY);
    expect(await probe(edge, '/livez')).toEqual(LIVE);
    expect(await health(edge)).toMatchObject({ status: 200, body: { status: 'ok', keyset_version: 1 } });
  });

  it('past KEYSET_MAX_STALENESS without an origin answer: still live, not ready (stale); ready again once the origin confirms', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, S1)));
    let now = Date.parse('2026-07-01T00:00:00Z');
    let down = false;
    const edge = createEdge({
      env: {
        ...EDGE_KEYS,
        KEYSET_URL: 'https://origin.test/probes/keyset',
        KEYSET_TTL: '60s',
        KEYSET_MAX_STALENESS: '10m',
      },
      now: () => now,
      fetch: (input, init) =>
        down ? Promise.reject(new TypeError('connection refused')) : origin.fetch(input, init),
      log: () => {},
    });
    // A cold edge pulls before it answers.
    expect(await probe(edge, '/readyz')).toEqual(READY);

    down = true;
    now += 10 * 60_000;
    await edge.refresh('stale').catch(() => {});
    expect(await probe(edge, '/readyz')).toEqual(READY);
    now += 1;
    expect(await probe(edge, '/readyz')).toEqual(notReady('stale'));
    expect(await probe(edge, '/livez')).toEqual(LIVE);
    expect(await health(edge)).toMatchObject({ status: 503, body: { status: 'stale', keyset_version: 1 } });

    down = false;
    now += 60_000;
    await edge.refresh('stale').catch(() => {});
    expect(await probe(edge, '/readyz')).toEqual(READY);
    expect(await health(edge)).toMatchObject({ status: 200, body: { status: 'ok', keyset_version: 1 } });
  });
});
