/**
 * A real edge served as the Node entry serves it (createEdge, Node HMAC, the listener of
 * edge/src/runtime/node-listener.ts) on a loopback port, in this process so that a test reads what it holds.
 */
import { createServer } from 'node:http';
import { createEdge, type Edge } from '../../edge/src/create-edge.ts';
import { createNodeListener } from '../../edge/src/runtime/node-listener.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { KEYSET_VERIFY_KEY } from './keysets.ts';

export interface NodeEdgeServer {
  edge: Edge;
  url: string;
  /** The answers to PUT /keyset so far: the status, and the version the edge held once it answered. */
  puts: Array<{ status: number; version: number }>;
  close(): Promise<void>;
}

/**
 * Starts an edge given `keysetKey` on 127.0.0.1 (`port` 0: a free one), taking keysets signed by `verifyKey`
 * (the test KEYSET_VERIFY_KEY unless given). Without `keysetKey` it holds no secret: public-only keysets only.
 */
export async function startNodeEdgeServer(
  keysetKey: string | undefined,
  port = 0,
  verifyKey: string = KEYSET_VERIFY_KEY,
): Promise<NodeEdgeServer> {
  const edge = createEdge({
    env:
      keysetKey === undefined
        ? { KEYSET_VERIFY_KEY: verifyKey }
        : { KEYSET_KEY: keysetKey, KEYSET_VERIFY_KEY: verifyKey },
    primitive: nodeVerify,
    log: () => {},
  });
  const listener = createNodeListener(edge);
  const puts: NodeEdgeServer['puts'] = [];
  const server = createServer((request, response) => {
    if (request.method === 'PUT')
      response.once('finish', () => puts.push({ status: response.statusCode, version: edge.store.version }));
    listener(request, response);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    edge,
    url: `http://127.0.0.1:${address.port}`,
    puts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
