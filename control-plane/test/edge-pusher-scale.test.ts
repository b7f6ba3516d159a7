/**
 * The pusher against a couple of hundred real loopback listeners, a few of which hold the request and never
 * answer, a few answer only after the budget, and a few hold the first attempt and answer the retry: the answer
 * comes by the budget (while the holding edges still hold their requests), says which edges are not confirmed and
 * why, never has more requests in flight than the concurrency allows, and the pushes that go on in the
 * background confirm the slow edges later.
 *
 * The listeners answer PUT /keyset as an edge does (200, the version, kids and clock) without opening the
 * envelope: what is under test is the pusher's side, and a couple of hundred real edges would only make the
 * machine slower. The edge's own handling of a push has its tests in edge/.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/free-port.ts';
import { eventually, SLACK_MS, storedKeysets, within } from '../../test/support/misbehaving-edge.ts';
import { EdgePusher } from '../src/push/edge-pusher.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

type Behaviour = 'ok' | 'hold' | 'slow' | 'hold-first';

interface Listener {
  url: string;
  behaviour: Behaviour;
  /** PUT /keyset requests received. */
  received: number;
  /** Requests received and not yet answered nor closed. */
  open: number;
  server: Server;
}

/** Shared by the listeners of one test: requests open across all of them, and the most seen at once. */
const load = { open: 0, peak: 0 };

async function listen(
  behaviour: Behaviour,
  versions: Map<string, number>,
  slowMs: number,
): Promise<Listener> {
  const port = await freePort();
  const listener: Listener = {
    url: `http://127.0.0.1:${port}`,
    behaviour,
    received: 0,
    open: 0,
    server: createServer(),
  };
  listener.server.on('request', async (request, response) => {
    listener.received++;
    listener.open++;
    load.open++;
    load.peak = Math.max(load.peak, load.open);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      listener.open--;
      load.open--;
    };
    response.on('finish', done);
    response.on('close', done);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const version = versions.get(Buffer.concat(chunks).toString());
    if (behaviour === 'hold' || (behaviour === 'hold-first' && listener.received === 1)) return;
    if (behaviour === 'slow') await new Promise((resolve) => setTimeout(resolve, slowMs));
    if (response.destroyed) return;
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ version, kids: [], time: Date.now() }));
  });
  await new Promise<void>((resolve) => listener.server.listen(port, '127.0.0.1', resolve));
  return listener;
}

const listeners: Listener[] = [];
const pushers: EdgePusher[] = [];
afterEach(async () => {
  for (const pusher of pushers.splice(0)) pusher.stop();
  await Promise.all(
    listeners.splice(0).map(({ server }) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
  load.open = 0;
  load.peak = 0;
});

describe('EdgePusher at scale (real loopback listeners)', () => {
  it('answers by the budget whatever the slowest edges do, reports them unconfirmed with why, keeps to the concurrency, and confirms the slow ones later', async () => {
    const [v1] = (await storedKeysets()) as [StoredKeyset];
    const versions = new Map([[v1.envelope as string, v1.keyset.version]]);
    const budgetMs = 3_000;
    const timeoutMs = 8_000;
    const concurrency = 24;
    // The misbehaving edges first: they take their slots before any healthy edge does.
    const plan: Behaviour[] = [
      ...Array<Behaviour>(4).fill('hold'),
      ...Array<Behaviour>(4).fill('slow'),
      ...Array<Behaviour>(4).fill('hold-first'),
      ...Array<Behaviour>(188).fill('ok'),
    ];
    for (let i = 0; i < plan.length; i += 50) {
      listeners.push(
        ...(await Promise.all(plan.slice(i, i + 50).map((b) => listen(b, versions, budgetMs + 1_000)))),
      );
    }
    const pusher = new EdgePusher({
      urls: listeners.map((listener) => listener.url),
      concurrency,
      timeoutMs,
      budgetMs,
      retries: 0,
      backgroundRetries: 3,
      baseDelayMs: 20,
      maxDelayMs: 200,
    });
    pushers.push(pusher);

    const started = performance.now();
    const outcomes = await within(budgetMs + SLACK_MS, 'the push answer', pusher.pushAll(v1));
    const elapsed = performance.now() - started;
    // The answer did not wait for the edges that hold their request: they still hold it.
    const holding = listeners.filter((listener) => listener.behaviour === 'hold');
    expect(holding.every((listener) => listener.open === 1)).toBe(true);
    console.info(
      `push answer over ${listeners.length} edges: ${Math.round(elapsed)} ms (budget ${budgetMs} ms)`,
    );
    expect(elapsed).toBeLessThan(budgetMs + SLACK_MS);

    expect(outcomes.map((outcome) => outcome.url)).toEqual(listeners.map((listener) => listener.url));
    for (const [index, outcome] of outcomes.entries()) {
      const { behaviour } = listeners[index] as Listener;
      if (behaviour === 'ok') {
        expect(outcome).toEqual({ url: outcome.url, confirmed: true, version: 1, error: '' });
      } else {
        expect(outcome).toMatchObject({ confirmed: false, version: 0 });
        expect(outcome.error).toMatch(
          /^not confirmed within the 3000 ms push budget \(no answer yet\); still pushing in the background$/,
        );
      }
    }
    expect(load.peak).toBeLessThanOrEqual(concurrency);

    // The pushes go on: the slow edges answer their first attempt, the hold-first ones a background retry.
    const later = listeners.filter(
      (listener) => listener.behaviour === 'slow' || listener.behaviour === 'hold-first',
    );
    const confirmedLater = await eventually(2 * timeoutMs + SLACK_MS, () =>
      pusher.targets
        .filter((target) => later.some((listener) => listener.url === target.url))
        .every((target) => target.confirmedVersion === 1),
    );
    expect(confirmedLater).toBe(true);
    for (const listener of later.filter((l) => l.behaviour === 'hold-first')) {
      expect(listener.received).toBeGreaterThanOrEqual(2);
    }
    // The edges that never answer are not confirmed, and say why.
    for (const target of pusher.targets.filter((t) => holding.some((l) => l.url === t.url))) {
      expect(target.confirmedVersion).toBe(0);
    }
    expect(load.peak).toBeLessThanOrEqual(concurrency);
  }, 60_000);

  it('refuses a concurrency, timeout or budget that is not a positive number', () => {
    expect(() => new EdgePusher({ urls: [], concurrency: 0 })).toThrow(
      'concurrency must be a positive number',
    );
    expect(() => new EdgePusher({ urls: [], timeoutMs: -1 })).toThrow('timeoutMs must be a positive number');
    expect(() => new EdgePusher({ urls: [], budgetMs: Number.NaN })).toThrow(
      'budgetMs must be a positive number',
    );
  });
});
