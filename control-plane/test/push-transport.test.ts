/**
 * The push transport against real loopback servers: a connection kept alive is reused, one the edge closed as
 * the request left is tried once more on a fresh connection (and only then), redirects are reported and not
 * followed, an answer whose body never ends is a timeout, and a body that is not JSON is no answer's JSON.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPushTransport, type PushTransport } from '../src/push/push-transport.ts';

const servers: Server[] = [];
const transports: PushTransport[] = [];
afterEach(async () => {
  for (const transport of transports.splice(0)) transport.close();
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

/** A server whose `handle` sees each request with its number on its connection (1 for a fresh one). */
async function serve(
  handle: (nth: number, response: ServerResponse) => void,
): Promise<{ url: URL; connections: () => number }> {
  const perSocket = new WeakMap<Socket, number>();
  let connections = 0;
  const server = createServer((request, response) => {
    const nth = (perSocket.get(request.socket) ?? 0) + 1;
    perSocket.set(request.socket, nth);
    request.resume();
    request.on('end', () => handle(nth, response));
  });
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { url: new URL(`http://127.0.0.1:${address.port}/keyset`), connections: () => connections };
}

function transport(): PushTransport {
  const created = createPushTransport();
  transports.push(created);
  return created;
}

const put = (url: URL, timeoutMs = 5_000) => ({ method: 'PUT' as const, url, body: 'envelope', timeoutMs });

describe('createPushTransport', () => {
  it('reuses a kept-alive connection for the next request', async () => {
    const edge = await serve((_, response) => response.end('{"version":1}'));
    const client = transport();
    expect(await client.send(put(edge.url))).toEqual({ status: 200, redirect: false, json: { version: 1 } });
    expect(await client.send(put(edge.url))).toEqual({ status: 200, redirect: false, json: { version: 1 } });
    expect(edge.connections()).toBe(1);
  });

  it('sends once more on a fresh connection when the edge closed the reused one, and not twice', async () => {
    // The second request on any connection finds it closed, as when the edge's keep-alive ran out meanwhile.
    const edge = await serve((nth, response) => {
      if (nth > 1) response.socket?.destroy();
      else response.end('{"version":2}');
    });
    const client = transport();
    await client.send(put(edge.url));
    expect(await client.send(put(edge.url))).toMatchObject({ status: 200, json: { version: 2 } });
    expect(edge.connections()).toBe(2);

    // A fresh connection that breaks is the edge's failure: reported, not sent again.
    const broken = await serve((_, response) => response.socket?.destroy());
    await expect(client.send(put(broken.url))).rejects.toThrow();
    expect(broken.connections()).toBe(1);
  });

  it('reports a redirect without following it, and a body that is not JSON as no JSON', async () => {
    const target = await serve((_, response) => response.end('{"version":9}'));
    const redirecting = await serve((_, response) =>
      response.writeHead(307, { location: target.url.href }).end(),
    );
    const client = transport();
    expect(await client.send(put(redirecting.url))).toEqual({ status: 307, redirect: true, json: undefined });
    expect(target.connections()).toBe(0);
    const text = await serve((_, response) => response.end('ok'));
    expect(await client.send(put(text.url))).toEqual({ status: 200, redirect: false, json: undefined });
  });

  it('times out, by name, an answer whose body never ends', async () => {
    const stalling = await serve((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"vers');
    });
    await expect(transport().send(put(stalling.url, 300))).rejects.toMatchObject({ name: 'TimeoutError' });
  });
});
