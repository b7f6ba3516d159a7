/**
 * EdgePusher against edges that are down or slow (issue 6, "Faults"): real edges (createEdge, Node HMAC
 * primitive) behind real node:http servers on loopback, each of which can refuse (not listening), hang, answer
 * slowly, answer 5xx or reset the connection. A round must finish within its per-target bound whatever the
 * others do, report each edge's outcome, deliver to the healthy ones, and the background retry must deliver to an
 * edge that comes back.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createEdge, type Edge } from '../../edge/src/create-edge.ts';
import { type Keyset, rotateKeyset } from '../../shared/keyset.ts';
import { parseKeysetKey, sealKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { nodeHmac } from '../../shared/runtime/node-hmac.ts';
import { freePort } from '../../test/support/free-port.ts';
import { EdgePusher, type EdgePusherOptions, type PushOutcome } from '../src/push/edge-pusher.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

const KEYSET_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';
const KEY_BYTES = parseKeysetKey(KEYSET_KEY);
/** Headroom on every bounded wait for a slow, shared machine: the waits end as soon as the condition holds. */
const SLACK_MS = 10_000;

/** What a fake-free edge server does with the next request. */
type Mode = 'ok' | 'hang' | 'slow' | '5xx' | 'reset' | 'stall-body' | 'park';

/** envelope text -> keyset version, so a server can tell which version a PUT carries without the key. */
const versionOf = new Map<string, number>();

/** Stored keysets v1..v4 as the control plane's rotation makes them, sealed with its KEYSET_KEY. */
async function storedKeysets(): Promise<StoredKeyset[]> {
  const out: StoredKeyset[] = [];
  let keyset: Keyset | null = null;
  for (let v = 1; v <= 4; v++) {
    const secret = `pusher-test-secret-${v}-${'x'.repeat(40)}`;
    keyset = rotateKeyset(
      keyset,
      { secret, kid: await computeKid(secret) },
      { now: new Date(Date.UTC(2026, 5, v)), gracePeriodMs: 86_400_000 },
    );
    const envelope = await sealKeyset(keyset, KEY_BYTES);
    versionOf.set(envelope, keyset.version);
    out.push({ keyset, envelope });
  }
  return out;
}

/** A real edge behind a real HTTP server on 127.0.0.1 whose behaviour the test switches. */
class EdgeServer {
  readonly edge: Edge;
  mode: Mode = 'ok';
  slowMs = 0;
  /** Per request, by the version it carries: overrides `mode` when it returns one. */
  route: ((version: number | undefined) => Mode | undefined) | undefined;
  /** Requests held by mode `park`, answered (through the edge) when released. */
  readonly parked: Array<() => Promise<void>> = [];
  /** PUT /keyset requests that reached the server, by the version they carried. */
  readonly received: Array<number | undefined> = [];
  readonly #server: Server;
  readonly #port: number;
  #listening = false;

  private constructor(port: number) {
    this.#port = port;
    this.edge = createEdge({ env: { KEYSET_KEY }, hmac: nodeHmac, log: () => {} });
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  static async start(options: { listening?: boolean } = {}): Promise<EdgeServer> {
    const server = new EdgeServer(await freePort());
    if (options.listening !== false) await server.up();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get version(): number {
    return this.edge.store.version;
  }

  /** Listens (again) on the same port. */
  async up(): Promise<void> {
    if (this.#listening) return;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#listening = true;
  }

  /** Stops listening and drops every connection: from now on, connections are refused. */
  async down(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise((resolve) => this.#server.close(resolve));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (this.mode === 'reset') {
      request.socket.resetAndDestroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const version = versionOf.get(body);
    if (request.method === 'PUT') this.received.push(version);
    const mode = this.route?.(version) ?? this.mode;
    const answer = () => this.#answer(request, response, body);
    switch (mode) {
      case 'hang':
        return;
      case 'park':
        this.parked.push(answer);
        return;
      case '5xx':
        response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
        return;
      case 'stall-body':
        // Headers of a success, then the body never finishes.
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"vers');
        return;
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, this.slowMs).unref());
        return answer();
      default:
        return answer();
    }
  }

  /** The edge's own answer; the edge takes the keyset even when the client has gone away meanwhile. */
  async #answer(request: IncomingMessage, response: ServerResponse, body: string): Promise<void> {
    const init: RequestInit = { method: request.method, headers: { 'content-type': 'application/jose' } };
    if (request.method !== 'GET' && request.method !== 'HEAD') init.body = body;
    const answer = await this.edge.fetch(new Request(`http://edge.test${request.url}`, init));
    const text = await answer.text();
    if (response.destroyed) return;
    response.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  }
}

const servers: EdgeServer[] = [];
const pushers: EdgePusher[] = [];

async function edgeServer(options?: { listening?: boolean }): Promise<EdgeServer> {
  const server = await EdgeServer.start(options);
  servers.push(server);
  return server;
}

function pusher(options: EdgePusherOptions): EdgePusher {
  const p = new EdgePusher(options);
  pushers.push(p);
  return p;
}

afterEach(async () => {
  for (const p of pushers.splice(0)) p.stop();
  await Promise.all(servers.splice(0).map((server) => server.down()));
});

/**
 * The longest a round may take by construction: every attempt times out, with the longest backoff before each
 * retry (full jitter draws below the cap).
 */
function roundBoundMs(
  options: Required<Pick<EdgePusherOptions, 'timeoutMs' | 'retries' | 'baseDelayMs' | 'maxDelayMs'>>,
) {
  let bound = (options.retries + 1) * options.timeoutMs;
  for (let attempt = 1; attempt <= options.retries; attempt++) {
    bound += Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  }
  return bound;
}

/** `promise`, or a failure naming `what` once `ms` have passed: a round that hangs fails the test. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 20 ms for at most `ms`; true when it held. */
async function eventually(ms: number, condition: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

function outcomeFor(outcomes: PushOutcome[], server: EdgeServer): PushOutcome | undefined {
  return outcomes.find((outcome) => outcome.url === server.url);
}

describe('EdgePusher with edges down or slow (real HTTP servers on loopback)', () => {
  it('finishes a round within the per-target bound whatever each edge does, and reports every outcome', async () => {
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
    // A 200 whose body never arrives: the status said taken; the timeout still ends the attempt.
    expect(outcomeFor(outcomes, stalling)?.error).toMatch(/^(|timeout)$/);

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

  it.each([
    ['refusing connections (down)', 'down'],
    ['answering 503', '5xx'],
    ['hanging', 'hang'],
    ['resetting connections', 'reset'],
  ] as const)('the background retry delivers to an edge that was %s once it comes back', async (_, fault) => {
    const [v1] = await storedKeysets();
    const healthy = await edgeServer();
    const flaky = await edgeServer({ listening: fault !== 'down' });
    if (fault !== 'down') flaky.mode = fault;
    const p = pusher({
      urls: [healthy.url, flaky.url],
      timeoutMs: 1_500,
      retries: 1,
      backgroundRetries: 40,
      baseDelayMs: 10,
      maxDelayMs: 100,
    });
    const outcomes = await within(SLACK_MS * 2, 'the push round', p.pushAll(v1 as StoredKeyset));
    expect(outcomeFor(outcomes, healthy)).toMatchObject({ confirmed: true, version: 1 });
    expect(outcomeFor(outcomes, flaky)).toMatchObject({ confirmed: false, version: 0 });
    expect(healthy.version).toBe(1);
    expect(flaky.version).toBe(0);

    // Comes back while the background retries are still going (40 of them, at most 100 ms apart + timeouts).
    if (fault === 'down') await flaky.up();
    else flaky.mode = 'ok';
    expect(await eventually(SLACK_MS * 2, () => flaky.version === 1)).toBe(true);
    expect(
      await eventually(SLACK_MS, () => p.targets.find((t) => t.url === flaky.url)?.confirmedVersion === 1),
    ).toBe(true);
    expect(p.targets.find((t) => t.url === flaky.url)).toMatchObject({ lastError: '', confirmedVersion: 1 });
  });

  it('an edge that was down through several rotations gets the newest keyset when it comes back', async () => {
    const [v1, v2, v3] = await storedKeysets();
    const flaky = await edgeServer({ listening: false });
    const p = pusher({
      urls: [flaky.url],
      timeoutMs: 1_500,
      retries: 0,
      backgroundRetries: 60,
      baseDelayMs: 10,
      maxDelayMs: 100,
    });
    for (const stored of [v1, v2, v3] as StoredKeyset[]) {
      const [outcome] = await within(SLACK_MS, 'the push round', p.pushAll(stored));
      expect(outcome).toMatchObject({ confirmed: false, version: 0 });
    }
    await flaky.up();
    expect(await eventually(SLACK_MS * 2, () => flaky.version === 3)).toBe(true);
    // Only the newest pending keyset is retried: v1 and v2 never reach it after it comes back.
    expect(flaky.received.every((version) => version === 3)).toBe(true);
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
    // control-plane.ts feeds outcome.version to the edge gauge as "the edge's confirmed one, whether this push
    // landed or not". BUG (edge-pusher.ts #pushTarget): on a 409 it reports the pushed version (2), not the
    // version the edge confirmed holding (3), which targets[] does report.
    expect(outcome?.version).toBe(3);
  });

  it('a newer keyset queued while a background retry of an older one is in flight is still delivered', async () => {
    // BUG (edge-pusher.ts #retryInBackground): the loop ends on the first successful attempt and then deletes
    // the pending entry, even when a newer keyset replaced it while that attempt was in flight; nothing ever
    // retries the newer one (until the next change), and the edge stays behind.
    const [v1, v2] = await storedKeysets();
    const edge = await edgeServer();
    edge.mode = '5xx';
    const p = pusher({
      urls: [edge.url],
      timeoutMs: 5_000,
      retries: 0,
      backgroundRetries: 50,
      baseDelayMs: 10,
      maxDelayMs: 50,
    });
    const [first] = await within(SLACK_MS, 'the v1 round', p.pushAll(v1 as StoredKeyset));
    expect(first).toMatchObject({ confirmed: false, error: 'HTTP 503' });
    // The next background attempt with v1 is held by the edge, mid-flight; v2 is refused for now.
    edge.route = (version) => (version === 1 ? 'park' : version === 2 ? '5xx' : undefined);
    expect(await eventually(SLACK_MS, () => edge.parked.length === 1)).toBe(true);
    const [second] = await within(SLACK_MS, 'the v2 round', p.pushAll(v2 as StoredKeyset));
    expect(second).toMatchObject({ confirmed: false, error: 'HTTP 503' });
    // The edge recovers: the parked v1 attempt now succeeds, and v2 is waiting to be retried.
    edge.route = undefined;
    edge.mode = 'ok';
    await (edge.parked.shift() as () => Promise<void>)();
    expect(await eventually(SLACK_MS, () => edge.version >= 1)).toBe(true);
    // 50 retries at most 50 ms apart are long over by then.
    expect(await eventually(5_000, () => edge.version === 2)).toBe(true);
  });

  it('stop() ends background retries: an edge that comes back after the control plane stopped gets nothing', async () => {
    const [v1] = await storedKeysets();
    const flaky = await edgeServer({ listening: false });
    const p = pusher({
      urls: [flaky.url],
      timeoutMs: 500,
      retries: 0,
      backgroundRetries: 40,
      baseDelayMs: 10,
      maxDelayMs: 50,
    });
    await within(SLACK_MS, 'the push round', p.pushAll(v1 as StoredKeyset));
    p.stop();
    await flaky.up();
    // Longer than all 40 backoffs at their cap; nothing arrives.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(flaky.received).toEqual([]);
    expect(flaky.version).toBe(0);
  });
});

describe('EdgePusher with edges mounted under a path (a real gateway on loopback)', () => {
  it('PUTs to <base>/keyset, keeping the base path with or without its trailing slash', async () => {
    const [v1] = await storedKeysets();
    // One node:http gateway serving two real edges at /edge-1/ and /edge-2/; anything else is 404.
    const mounted = new Map<string, Edge>([
      ['/edge-1', createEdge({ env: { KEYSET_KEY }, hmac: nodeHmac, log: () => {} })],
      ['/edge-2', createEdge({ env: { KEYSET_KEY }, hmac: nodeHmac, log: () => {} })],
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
      const answer = await edge.fetch(
        new Request(`http://edge.test${(request.url ?? '').slice(prefix.length)}`, {
          method: request.method,
          headers: { 'content-type': 'application/jose' },
          body: Buffer.concat(chunks).toString(),
        }),
      );
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
      expect([...mounted.values()].map((edge) => edge.store.version)).toEqual([1, 1]);
      // An edge at the root of its origin still gets /keyset.
      expect(root.received).toEqual([1]);
      expect(root.version).toBe(1);
    } finally {
      const closed = new Promise((resolve) => gateway.close(resolve));
      gateway.closeAllConnections();
      await closed;
    }
  });
});
