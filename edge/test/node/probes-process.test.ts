/**
 * The Node edge process on loopback: GET /livez and GET /readyz go through the Node entry's listener to the
 * Hono app. Live from the start; ready only once it holds a keyset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthOf, putKeyset } from '../../../test/support/edge-http-client.ts';
import { type EdgeProcess, startNodeEdge } from '../../../test/support/edge-processes.ts';
import { buildKeyset, KEYSET_KEY, seal, secret } from '../../../test/support/keysets.ts';

let edge: EdgeProcess;

beforeAll(async () => {
  edge = await startNodeEdge({ keysetKey: KEYSET_KEY });
});

afterAll(async () => {
  await edge?.stop();
});

async function probe(path: '/livez' | '/readyz') {
  const response = await fetch(`${edge.url}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the Node edge process: GET /livez and GET /readyz', () => {
  it('is live without a keyset but not ready (no_keyset), and ready once a keyset is pushed', async () => {
    expect(await probe('/livez')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await probe('/readyz')).toEqual({
      status: 503,
      body: { status: 'not_ready', reasons: ['no_keyset'] },
    });
    expect(await healthOf(edge.url)).toEqual({ status: 503, body: { status: 'no_keyset' } });

    const pushed = await putKeyset(edge.url, await seal(await buildKeyset(1, secret('probes-node'))));
    expect(pushed.status).toBe(200);
    expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await probe('/livez')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await healthOf(edge.url)).toMatchObject({
      status: 200,
      body: { status: 'ok', keyset_version: 1 },
    });
  });
});
