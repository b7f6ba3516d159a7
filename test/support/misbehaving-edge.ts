/**
 * Edges that misbehave, for the pusher's fault tests: an HTTP front on 127.0.0.1 that can refuse (not
 * listening), hang, answer slowly, answer 5xx, reset the connection or park a request, and otherwise hands the
 * request to a real edge served by the Node entry's listener (node-edge-server.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach } from 'vitest';
import {
  EdgePusher,
  type EdgePusherOptions,
  type PushOutcome,
} from '../../control-plane/src/push/edge-pusher.ts';
import type { StoredKeyset } from '../../control-plane/src/storage/keyset-storage.ts';
import type { Edge } from '../../edge/src/create-edge.ts';
import { type Keyset, rotateKeyset } from '../../shared/keyset.ts';
import { parseKeysetKey, sealKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { freePort } from './free-port.ts';
import { sealingKeys } from './keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from './node-edge-server.ts';

export const KEYSET_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';
const KEY_BYTES = parseKeysetKey(KEYSET_KEY);
/** Headroom on every bounded wait for a slow, shared machine: the waits end as soon as the condition holds. */
export const SLACK_MS = 10_000;

/** What a misbehaving edge server does with the next request. */
export type Mode = 'ok' | 'hang' | 'slow' | '5xx' | 'reset' | 'stall-body' | 'park';

/** envelope text -> keyset version, so a server can tell which version a PUT carries without the key. */
const versionOf = new Map<string, number>();

/** Stored keysets v1..v4 as the control plane's rotation makes them, sealed with its KEYSET_KEY. */
export async function storedKeysets(): Promise<StoredKeyset[]> {
  const out: StoredKeyset[] = [];
  let keyset: Keyset | null = null;
  for (let v = 1; v <= 4; v++) {
    const secret = `pusher-test-secret-${v}-${'x'.repeat(40)}`;
    keyset = rotateKeyset(
      keyset,
      { secret, kid: await computeKid(secret) },
      { now: new Date(Date.UTC(2026, 5, v)), gracePeriodMs: 86_400_000 },
    );
    const envelope = await sealKeyset(keyset, await sealingKeys(KEY_BYTES));
    versionOf.set(envelope, keyset.version);
    out.push({ keyset, envelope });
  }
  return out;
}

/** A real edge behind an HTTP front on 127.0.0.1 whose behaviour the test switches. */
export class EdgeServer {
  readonly #real: NodeEdgeServer;
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

  private constructor(port: number, real: NodeEdgeServer) {
    this.#port = port;
    this.#real = real;
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  static async start(options: { listening?: boolean } = {}): Promise<EdgeServer> {
    const server = new EdgeServer(await freePort(), await startNodeEdgeServer(KEYSET_KEY));
    if (options.listening !== false) await server.up();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get edge(): Edge {
    return this.#real.edge;
  }

  get version(): number {
    return this.#real.edge.store.version;
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

  /** The real edge's answer; the edge takes the keyset even when the client has gone away meanwhile. */
  async #answer(request: IncomingMessage, response: ServerResponse, body: string): Promise<void> {
    const init: RequestInit = { method: request.method, headers: { 'content-type': 'application/jose' } };
    if (request.method !== 'GET' && request.method !== 'HEAD') init.body = body;
    const answer = await fetch(`${this.#real.url}${request.url}`, init);
    const text = await answer.text();
    if (response.destroyed) return;
    response.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  }

  /** Stops the front and the real edge behind it. */
  async close(): Promise<void> {
    await this.down();
    await this.#real.close();
  }
}

/**
 * The longest a round may take by construction: every attempt times out, with the longest backoff before each
 * retry (full jitter draws below the cap).
 */
export function roundBoundMs(
  options: Required<Pick<EdgePusherOptions, 'timeoutMs' | 'retries' | 'baseDelayMs' | 'maxDelayMs'>>,
) {
  let bound = (options.retries + 1) * options.timeoutMs;
  for (let attempt = 1; attempt <= options.retries; attempt++) {
    bound += Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  }
  return bound;
}

/** `promise`, or a failure naming `what` once `ms` have passed: a round that hangs fails the test. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
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
export async function eventually(ms: number, condition: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

export function outcomeFor(outcomes: PushOutcome[], server: EdgeServer): PushOutcome | undefined {
  return outcomes.find((outcome) => outcome.url === server.url);
}

/** Edge servers and pushers for the calling test file, all stopped after each test. */
export function usePushFixtures() {
  const servers: EdgeServer[] = [];
  const pushers: EdgePusher[] = [];
  afterEach(async () => {
    for (const p of pushers.splice(0)) p.stop();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });
  return {
    async edgeServer(options?: { listening?: boolean }): Promise<EdgeServer> {
      const server = await EdgeServer.start(options);
      servers.push(server);
      return server;
    },
    pusher(options: EdgePusherOptions): EdgePusher {
      const p = new EdgePusher(options);
      pushers.push(p);
      return p;
    },
  };
}
