/**
 * An EdgePusher round against real edges that are down or slow: it ends within its timeouts and retries
 * whatever each edge does, reports each edge's outcome, and delivers to the healthy ones and to gateways.
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/free-port.ts';
import {
  eventually,
  KEYSET_KEY,
  outcomeFor,
  roundBoundMs,
  SLACK_MS,
  storedKeysets,
  usePushFixtures,
  within,
} from '../../test/support/misbehaving-edge.ts';
import { startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import type { PushOutcome } from '../src/push/edge-pusher.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

const { edgeServer, pusher } = usePushFixtures();

describe('EdgePusher with edges down or slow (real edges on loopback)', () => {
  it('a round ends once each edge has used up its timeouts and retries (that bound, plus slack for a shared machine), whatever each edge does, and reports every outcome', async () => {
    const [v1] = await storedKeysets();
    const healthy = await edgeServer();
    const slowButInTime = await edgeServer();
    slowButInTime.mode = 'slow';
    slowButInTime.slowMs = 200;
    const refusing = await edgeServer({ listening: false });
    const hanging = await edgeServer();
    hanging.mode = 'hang';
    const tooSlow = await edgeServer();
    tooSlow.mode = 'slow';
    tooSlow.slowMs = 7_000;
    const failing = await edgeServer();
    failing.mode = '5xx';
    const resetting = await edgeServer();
    resetting.mode = 'reset';
    const stalling = await edgeServer();
    stalling.mode = 'stall-body';
    const all = [healthy, slowButInTime, refusing, hanging, tooSlow, failing, resetting, stalling];

    const options = { timeoutMs: 3_000, retries: 1, baseDelayMs: 20, maxDelayMs: 200 };
    const attempts: Array<[string, boolean]> = [];
    const p = pusher({
      urls: all.map((server) => server.url),
      ...options,
      // Longer than the round: each edge's own outcome is reported, none cut short by the budget.
      budgetMs: roundBoundMs(options) + SLACK_MS,
      backgroundRetries: 0,
      onAttempt: (url, ok) => attempts.push([url, ok]),
    });
    const started = Date.now();
    const outcomes = await within(
      roundBoundMs(options) + SLACK_MS,
      'the push round',
      p.pushAll(v1 as StoredKeyset),
    );
    const elapsed = Date.now() - started;
    console.info(`push round over ${all.length} edges: ${elapsed} ms (bound ${roundBoundMs(options)} ms)`);

    expect(outcomes.map((outcome) => outcome.url)).toEqual(all.map((server) => server.url));
    expect(outcomeFor(outcomes, healthy)).toEqual({
      url: healthy.url,
      confirmed: true,
      version: 1,
      error: '',
    });
    expect(outcomeFor(outcomes, slowButInTime)).toMatchObject({ confirmed: true, version: 1, error: '' });
    expect(outcomeFor(outcomes, refusing)).toMatchObject({ confirmed: false, version: 0 });
    expect(outcomeFor(outcomes, refusing)?.error).toMatch(/^unreachable: /);
    expect(outcomeFor(outcomes, hanging)).toMatchObject({ confirmed: false, version: 0, error: 'timeout' });
    expect(outcomeFor(outcomes, tooSlow)).toMatchObject({ confirmed: false, version: 0, error: 'timeout' });
    expect(outcomeFor(outcomes, failing)).toMatchObject({ confirmed: false, version: 0, error: 'HTTP 503' });
    expect(outcomeFor(outcomes, resetting)).toMatchObject({ confirmed: false, version: 0 });
    expect(outcomeFor(outcomes, resetting)?.error).toMatch(/^unreachable: /);
    // A 200 whose body never arrives vouches for nothing: the timeout ends the attempt, unconfirmed.
    expect(outcomeFor(outcomes, stalling)).toMatchObject({ confirmed: false, version: 0, error: 'timeout' });

    // The healthy edges hold the keyset; the state the control plane exposes agrees with the outcomes.
    expect(healthy.version).toBe(1);
    expect(slowButInTime.version).toBe(1);
    for (const state of p.targets) {
      const outcome = outcomes.find((o) => o.url === state.url) as PushOutcome;
      expect(state.lastError).toBe(outcome.error);
      expect(state.confirmedVersion).toBe(outcome.confirmed ? 1 : 0);
    }
    // Each failing edge was tried once plus `retries` times, no more.
    for (const server of [hanging, tooSlow, failing]) expect(server.received).toEqual([1, 1]);
    // The healthy edge was confirmed before the hanging one had even used up its first attempt.
    const healthyOk = attempts.findIndex(([url, ok]) => url === healthy.url && ok);
    const hangingFailed = attempts.findIndex(([url]) => url === hanging.url);
    expect(healthyOk).toBeGreaterThanOrEqual(0);
    expect(healthyOk).toBeLessThan(hangingFailed);
    // The slow edge took the keyset after the pusher gave up on it: slow, not lost.
    expect(await eventually(tooSlow.slowMs + SLACK_MS, () => tooSlow.version === 1)).toBe(true);
  });

  it('answers 409 from an edge that already holds a newer version: confirmed, not behind', async () => {
    const [, v2, v3] = await storedKeysets();
    const ahead = await edgeServer();
    // Another replica already pushed version 3.
    const taken = await ahead.edge.fetch(
      new Request('http://edge.test/keyset', { method: 'PUT', body: (v3 as StoredKeyset).envelope }),
    );
    expect(taken.status).toBe(200);
    const p = pusher({ urls: [ahead.url], timeoutMs: 2_000, retries: 0, backgroundRetries: 0 });
    const [outcome] = await within(SLACK_MS, 'the push round', p.pushAll(v2 as StoredKeyset));
    expect(outcome).toMatchObject({ confirmed: true, error: '' });
    expect(p.targets[0]).toMatchObject({ confirmedVersion: 3, lastError: '' });
    expect(ahead.version).toBe(3);
    // The push policy feeds outcome.version to the edge gauge as "the edge's confirmed one, whether this push
    // landed or not": after a 409 that is the version the edge holds (3), as targets[] reports, not the pushed 2.
    expect(outcome?.version).toBe(3);
  });
});

describe('EdgePusher with edges mounted under a path (a real gateway on loopback)', () => {
  it('PUTs to <base>/keyset, keeping the base path with or without its trailing slash', async () => {
    const [v1] = await storedKeysets();
    // One node:http gateway in front of two real edges at /edge-1/ and /edge-2/; anything else is 404.
    const behind = [await startNodeEdgeServer(KEYSET_KEY), await startNodeEdgeServer(KEYSET_KEY)];
    const mounted = new Map<string, (typeof behind)[number]>([
      ['/edge-1', behind[0] as (typeof behind)[number]],
      ['/edge-2', behind[1] as (typeof behind)[number]],
    ]);
    const requests: string[] = [];
    const gateway = createServer(async (request, response) => {
      requests.push(`${request.method} ${request.url}`);
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const prefix = /^\/[^/]+/.exec(request.url ?? '')?.[0] ?? '';
      const edge = mounted.get(prefix);
      if (!edge) {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
        return;
      }
      const answer = await fetch(`${edge.url}${(request.url ?? '').slice(prefix.length)}`, {
        method: request.method,
        headers: { 'content-type': 'application/jose' },
        body: Buffer.concat(chunks).toString(),
      });
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
    });
    const port = await freePort();
    await new Promise<void>((resolve) => gateway.listen(port, '127.0.0.1', resolve));
    const root = await edgeServer();
    try {
      const base = `http://127.0.0.1:${port}`;
      const urls = [`${base}/edge-1`, `${base}/edge-2/`, root.url];
      const p = pusher({ urls, timeoutMs: 2_000, retries: 0, backgroundRetries: 0 });
      const outcomes = await within(SLACK_MS, 'the push round', p.pushAll(v1 as StoredKeyset));
      expect(outcomes).toEqual(urls.map((url) => ({ url, confirmed: true, version: 1, error: '' })));
      expect(requests.sort()).toEqual(['PUT /edge-1/keyset', 'PUT /edge-2/keyset']);
      expect(behind.map((server) => server.edge.store.version)).toEqual([1, 1]);
      // An edge at the root of its origin still gets /keyset.
      expect(root.received).toEqual([1]);
      expect(root.version).toBe(1);
    } finally {
      const closed = new Promise((resolve) => gateway.close(resolve));
      gateway.closeAllConnections();
      await closed;
      await Promise.all(behind.map((server) => server.close()));
    }
  });
});
