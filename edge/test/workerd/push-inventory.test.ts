/**
 * What an edge under workerd tells the pusher about itself: PUT /keyset answers the kids of the keyset it now
 * holds (every key, of every status and algorithm, whether or not JWT_ALGORITHMS lets it verify) and its clock.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { putKeyset } from '../../../test/support/edge-requests.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../../../test/support/key-pairs.ts';
import { EDGE_KEYS, seal, secret } from '../../../test/support/keysets.ts';
import { createEdge } from '../../src/create-edge.ts';
import worker from '../../src/runtime/worker.ts';

const HS = secret('inventory-hs');

/** HS256 active, ES256 standby, EdDSA previous. */
async function mixed(version: number) {
  return edgeView(
    await buildMixedKeyset(version, [
      { key: HS },
      { key: ES256_PAIR, status: 'standby' },
      { key: EDDSA_PAIR, status: 'previous' },
    ]),
  );
}

describe('PUT /keyset answers what the edge holds and its clock', () => {
  it('through the Worker entry: the kids of every key in the keyset, and time from the isolate clock', async () => {
    const keyset = await mixed(3);
    const isolateEnv = { ...env };
    const isolate = {
      fetch: async (request: Request) => {
        const ctx = createExecutionContext();
        const response = (await worker.fetch(request as never, isolateEnv, ctx)) as unknown as Response;
        await waitOnExecutionContext(ctx);
        return response;
      },
    };
    const before = Date.now();
    const response = await putKeyset(isolate, await seal(keyset));
    const after = Date.now();
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      version: number;
      kids: string[];
      time: number;
      revocations: number;
    };
    expect(body).toEqual({
      version: 3,
      kids: keyset.keys.map((key) => key.kid),
      time: expect.any(Number),
      revocations: 0,
    });
    expect(body.kids).toEqual(expect.arrayContaining([ES256_PAIR.kid, EDDSA_PAIR.kid]));
    expect(body.time).toBeGreaterThanOrEqual(before);
    expect(body.time).toBeLessThanOrEqual(after);
  });

  it('names keys of algorithms JWT_ALGORITHMS leaves out (held, not verified with), and answers its own clock', async () => {
    let now = Date.parse('2031-01-01T00:00:00Z');
    const edge = createEdge({
      env: { ...EDGE_KEYS, JWT_ALGORITHMS: 'HS256' },
      now: () => now,
      log: () => {},
    });
    const keyset = await mixed(5);
    const first = await putKeyset(edge, await seal(keyset));
    expect(await first.json()).toEqual({
      version: 5,
      kids: keyset.keys.map((key) => key.kid),
      time: now,
      revocations: 0,
    });
    // The same keyset again: held, same kids, the clock as it reads now.
    now += 61_000;
    const again = await putKeyset(edge, await seal(keyset));
    expect(await again.json()).toEqual({
      version: 5,
      kids: keyset.keys.map((key) => key.kid),
      time: now,
      revocations: 0,
    });
  });

  it('an older version is answered 409 with the held version alone, as before', async () => {
    const edge = createEdge({ env: { ...EDGE_KEYS }, log: () => {} });
    await (await putKeyset(edge, await seal(await mixed(5)))).body?.cancel();
    const older = await putKeyset(edge, await seal(await mixed(4)));
    expect(older.status).toBe(409);
    expect(await older.json()).toEqual({ error: 'keyset_conflict', version: 5 });
  });
});
