/**
 * Edges for the per-edge inventory tests: a real edge served by the Node entry's listener whose clock runs off
 * the machine's by a fixed skew (createEdge's injected `now`), and a real edge behind a loopback front that
 * drops `kids` and `time` from its PUT /keyset answers, as an edge built before those members answers.
 */
import { createServer, type Server } from 'node:http';
import { createEdge, type Edge } from '../../edge/src/create-edge.ts';
import { createNodeListener } from '../../edge/src/runtime/node-listener.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { freePort } from './free-port.ts';
import { KEYSET_VERIFY_KEY } from './keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from './node-edge-server.ts';

export interface LoopbackEdge {
  edge: Edge;
  url: string;
  close(): Promise<void>;
}

/** A real edge on 127.0.0.1 whose clock reads the machine's plus `skewMs`. */
export async function startSkewedEdgeServer(keysetKey: string, skewMs: number): Promise<LoopbackEdge> {
  const edge = createEdge({
    env: { KEYSET_KEY: keysetKey, KEYSET_VERIFY_KEY },
    now: () => Date.now() + skewMs,
    primitive: nodeVerify,
    log: () => {},
  });
  const server = createServer(createNodeListener(edge));
  return { edge, ...(await listen(server)) };
}

/**
 * A real edge behind a front on 127.0.0.1 that passes every request through and strips `kids` and `time` from
 * the JSON answers, leaving `{"version": N}` as SPEC section 6 first defined it.
 */
export async function startOlderEdge(keysetKey: string): Promise<LoopbackEdge> {
  const real: NodeEdgeServer = await startNodeEdgeServer(keysetKey);
  const front = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const init: RequestInit = { method: request.method, headers: { 'content-type': 'application/jose' } };
    if (request.method !== 'GET' && request.method !== 'HEAD') init.body = Buffer.concat(chunks).toString();
    const answer = await fetch(`${real.url}${request.url}`, init);
    let text = await answer.text();
    if (request.method === 'PUT' && answer.headers.get('content-type')?.includes('json')) {
      const { kids: _kids, time: _time, ...rest } = JSON.parse(text) as Record<string, unknown>;
      text = JSON.stringify(rest);
    }
    response.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  });
  const served = await listen(front);
  return {
    edge: real.edge,
    url: served.url,
    async close() {
      await served.close();
      await real.close();
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens. */
export async function unreachableUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
