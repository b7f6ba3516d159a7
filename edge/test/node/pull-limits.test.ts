/**
 * What a pull takes from its origin: no more than the envelope limit however the answer is compressed (a gzip
 * bomb declares its compressed length), and nothing from wherever a redirect points. Real node:http origins on
 * loopback, the real Upstash-compatible gateway in front of a real valkey-server, and the real Node, Deno and
 * Bun entries, whose peak memory is read from /proc.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Valkey } from 'iovalkey';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ENVELOPE_BYTES } from '../../../shared/keyset-envelope.ts';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../../../test/support/edge-entry-commands.ts';
import { freePort } from '../../../test/support/free-port.ts';
import { buildKeyset, KEYSET_KEY, KEYSET_VERIFY_KEY, seal, secret } from '../../../test/support/keysets.ts';
import { type ManagedProcess, startProcess } from '../../../test/support/managed-process.ts';
import { startUpstashGateway, type UpstashGateway } from '../../../test/support/upstash-gateway.ts';
import { startValkey, type ValkeyServer } from '../../../test/support/valkey-server.ts';
import { waitFor } from '../../../test/support/wait-for.ts';
import { createEdge } from '../../src/create-edge.ts';
import { KEYSET_REDIS_KEY } from '../../src/keyset/sources/upstash-keyset-source.ts';

const ROOT = REPO_ROOT;
const TOKEN = 'pull-limits-upstash-token';
/** Inflated size of each bomb: its gzip stays under the envelope limit, so a declared length lets it through. */
const INFLATED_BYTES = 48 * 1024 * 1024;
/** What a pull may read past the limit: the last chunk the decoder hands over. */
const READ_BOUND_BYTES = 1024 * 1024;

let origin: Server;
let originUrl: string;
/** Zeros as a gzip-encoded envelope answer, and as an Upstash REST answer `{"result":"AAAA…"}`. */
let envelopeBomb: Buffer;
let upstashBomb: Buffer;
let valkey: ValkeyServer;
let gateway: UpstashGateway;
/** Requests that reached where the redirects point. */
const reached: string[] = [];
let elsewhereUrl: string;
let elsewhere: Server;
/** Off: the bomb paths answer 404, so that a runtime's first pull costs what any pull costs, bomb aside. */
let armed = true;

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

beforeAll(async () => {
  envelopeBomb = gzipSync(Buffer.alloc(INFLATED_BYTES, 0));
  const json = Buffer.alloc(INFLATED_BYTES, 'A');
  json.write('{"result":"', 0);
  json.write('"}', INFLATED_BYTES - 2);
  upstashBomb = gzipSync(json);
  expect(Math.max(envelopeBomb.byteLength, upstashBomb.byteLength)).toBeLessThan(MAX_ENVELOPE_BYTES);

  valkey = await startValkey();
  gateway = await startUpstashGateway({ valkeyPort: valkey.port, token: TOKEN });
  const client = new Valkey({ host: '127.0.0.1', port: valkey.port });
  await client.set(KEYSET_REDIS_KEY, await seal(await buildKeyset(7, secret('pull-limits-upstash'))));
  client.disconnect();

  const envelope = await seal(await buildKeyset(9, secret('pull-limits-elsewhere')));
  ({ server: elsewhere, url: elsewhereUrl } = await listen((request, response) => {
    reached.push(`${request.method} ${request.url}`);
    request.resume();
    response.writeHead(200, { 'content-type': 'application/jose', etag: '"v9"' }).end(envelope);
  }));

  ({ server: origin, url: originUrl } = await listen((request, response) => {
    request.resume();
    const path = new URL(request.url ?? '/', originUrl).pathname;
    if ((path === '/bomb/keyset' || path === '/bomb/upstash') && !armed) {
      response.writeHead(404).end();
    } else if (path === '/bomb/keyset' || path === '/bomb/upstash') {
      const type = path.endsWith('keyset') ? 'application/jose' : 'application/json';
      const body = path.endsWith('keyset') ? envelopeBomb : upstashBomb;
      response
        .writeHead(200, {
          'content-type': type,
          'content-encoding': 'gzip',
          'content-length': body.byteLength,
        })
        .end(body);
    } else if (path === '/redirect/keyset') {
      response.writeHead(307, { location: `${elsewhereUrl}/keyset` }).end();
    } else if (path === '/redirect/upstash') {
      response.writeHead(307, { location: gateway.url }).end();
    } else {
      response.writeHead(404).end();
    }
  }));
});

afterAll(async () => {
  for (const server of [origin, elsewhere]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  await gateway?.close();
  await valkey?.stop();
});

/** The real fetch, with the bytes each answer's body delivered (after decoding) counted. */
function countingFetch(counted: { bytes: number }): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (response.body === null) return response;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        counted.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(counter), {
      status: response.status,
      headers: response.headers,
    });
  };
}

describe('a gzip bomb answering a pull', () => {
  it('from KEYSET_URL: the pull fails as too large, having read no more than the limit and one chunk', async () => {
    const counted = { bytes: 0 };
    const edge = createEdge({
      env: { KEYSET_KEY, KEYSET_VERIFY_KEY, KEYSET_URL: `${originUrl}/bomb/keyset` },
      fetch: countingFetch(counted),
      log: () => {},
    });
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: false, version: 0 });
    expect(report.failures).toEqual([
      `KEYSET_URL: body_too_large: body larger than ${MAX_ENVELOPE_BYTES} bytes`,
    ]);
    expect(counted.bytes).toBeGreaterThan(MAX_ENVELOPE_BYTES);
    expect(counted.bytes).toBeLessThan(MAX_ENVELOPE_BYTES + READ_BOUND_BYTES);
  });

  it('from Upstash: the pull fails as too large, having read no more than the limit and one chunk', async () => {
    const counted = { bytes: 0 };
    const edge = createEdge({
      env: {
        KEYSET_KEY,
        KEYSET_VERIFY_KEY,
        UPSTASH_REDIS_REST_URL: `${originUrl}/bomb/upstash`,
        UPSTASH_REDIS_REST_TOKEN: TOKEN,
      },
      fetch: countingFetch(counted),
      log: () => {},
    });
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: false, version: 0 });
    expect(report.failures).toEqual([
      expect.stringMatching(/^UPSTASH_REDIS_REST_URL: body_too_large: body larger than \d+ bytes$/),
    ]);
    expect(counted.bytes).toBeGreaterThan(0);
    expect(counted.bytes).toBeLessThan(2 * MAX_ENVELOPE_BYTES + READ_BOUND_BYTES);
  });
});

describe('a redirect answering a pull', () => {
  afterEach(() => {
    reached.length = 0;
  });

  it('from KEYSET_URL is a failed pull, and nothing is asked of where it points', async () => {
    const edge = createEdge({
      env: { KEYSET_KEY, KEYSET_VERIFY_KEY, KEYSET_URL: `${originUrl}/redirect/keyset` },
      log: () => {},
    });
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: false, version: 0 });
    expect(report.failures).toEqual([
      'KEYSET_URL: pull_failed: KEYSET_URL answered 307, a redirect: not followed',
    ]);
    expect(reached).toEqual([]);
  });

  it('from Upstash is a failed pull, and nothing is asked of where it points', async () => {
    const before = gateway.requests;
    const edge = createEdge({
      env: {
        KEYSET_KEY,
        KEYSET_VERIFY_KEY,
        UPSTASH_REDIS_REST_URL: `${originUrl}/redirect/upstash`,
        UPSTASH_REDIS_REST_TOKEN: TOKEN,
      },
      log: () => {},
    });
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: false, version: 0 });
    expect(report.failures).toEqual([
      'UPSTASH_REDIS_REST_URL: pull_failed: UPSTASH_REDIS_REST_URL answered 307, a redirect: not followed',
    ]);
    expect(gateway.requests).toBe(before);
  });
});

const RUNTIMES: Record<string, string[]> = EDGE_ENTRY_COMMANDS;

/** Peak resident memory of a process so far (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kib) * 1024;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe.each(Object.keys(RUNTIMES))('the %s entry pulling gzip bombs', (runtime) => {
  let edge: ManagedProcess | undefined;

  afterEach(async () => {
    await edge?.kill();
    edge = undefined;
    armed = true;
  });

  it('refuses both and its peak memory grows by far less than one bomb inflates to', async () => {
    const port = await freePort();
    const [command, ...args] = RUNTIMES[runtime] as string[];
    edge = startProcess(`${runtime} edge`, command as string, args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KEYSET_KEY,
        KEYSET_VERIFY_KEY,
        KEYSET_URL: `${originUrl}/bomb/keyset`,
        UPSTASH_REDIS_REST_URL: `${originUrl}/bomb/upstash`,
        UPSTASH_REDIS_REST_TOKEN: TOKEN,
        // A request without a keyset pulls again once this has passed since the last attempt.
        KEYSET_TTL: '200ms',
        PORT: String(port),
        HOST: '127.0.0.1',
      },
    });
    const { child } = edge;
    // Bounded: 600 x 50 ms. Deno's first start compiles the TypeScript. A TCP connect, not a request: the
    // first request is what starts the cold pull.
    for (let i = 0; i < 600 && !(await accepts(port)); i++) {
      if (edge.exited) throw new Error(`${runtime} edge exited: ${edge.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // A first request and pull without the bombs: what they cost (compiling, first fetch) is not counted.
    armed = false;
    const healthz = () =>
      fetch(`http://127.0.0.1:${port}/healthz`).then(async (response) => {
        await response.body?.cancel();
        return response.status;
      });
    expect(await healthz()).toBe(503);
    const before = await peakRss(child.pid as number);
    armed = true;
    const pulledBoth = () =>
      ['KEYSET_URL: body_too_large', 'UPSTASH_REDIS_REST_URL: body_too_large'].every((line) =>
        edge?.output().includes(line),
      );
    await waitFor(
      async () => {
        expect(await healthz()).toBe(503);
        return pulledBoth() || undefined;
      },
      { what: `the ${runtime} edge to pull both bombs`, timeoutMs: 10_000, intervalMs: 100 },
    );
    const after = await peakRss(child.pid as number);

    expect(after - before).toBeLessThan(INFLATED_BYTES / 2);
    expect(edge.output()).toContain(
      `KEYSET_URL: body_too_large: body larger than ${MAX_ENVELOPE_BYTES} bytes`,
    );
    expect(edge.output()).toMatch(/UPSTASH_REDIS_REST_URL: body_too_large: body larger than \d+ bytes/);
  });
});
