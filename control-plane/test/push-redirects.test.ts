/**
 * Pushes never follow a redirect: an edge (or whatever sits at its URL) answering 3xx could otherwise steer the
 * control plane's PUT into an internal network, and the answer from there would count as the edge's confirmation.
 * Real node:http servers on loopback: the edge URL answers 307 to a second server that would confirm anything.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { buildKeyset, seal, secret } from '../../test/support/keysets.ts';
import { EdgePusher } from '../src/push/edge-pusher.ts';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

describe('EdgePusher and redirects', () => {
  it.each([301, 302, 303, 307, 308])(
    'counts a %i from the edge URL as a failed push and sends nothing to where it points',
    async (status) => {
      const reached: string[] = [];
      const internal = await listen((request, response) => {
        reached.push(`${request.method} ${request.url}`);
        request.resume();
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"version":1000}');
      });
      const edge = await listen((request, response) => {
        request.resume();
        response.writeHead(status, { location: `${internal}/keyset` }).end();
      });
      const stored = await buildKeyset(3, secret('redirect-push'));
      const pusher = new EdgePusher({ urls: [edge], retries: 1, backgroundRetries: 0, baseDelayMs: 1 });
      const [outcome] = await pusher.pushAll({ keyset: stored, envelope: await seal(stored) });
      pusher.stop();

      expect(outcome).toMatchObject({ url: edge, confirmed: false, version: 0 });
      expect(outcome?.error).toBe(`HTTP ${status}: edges must answer PUT /keyset themselves, not redirect`);
      expect(pusher.targets[0]).toMatchObject({ confirmedVersion: 0, lastSuccessAt: null });
      expect(reached).toEqual([]);
    },
  );
});
