/** Node.js entry: `node edge/src/runtime/node.ts` (env: KEYSET_KEY etc., PORT, HOST). */
import { serve } from '@hono/node-server';
import { nodeHmac } from '../../../shared/runtime/node-hmac.ts';
import { createEdge } from '../create-edge.ts';

// Synchronous node:crypto HMAC: Node's WebCrypto pays a thread-pool hop per verify.
const edge = createEdge({ env: process.env, hmac: nodeHmac });
serve(
  {
    fetch: (request) => edge.fetch(request),
    port: Number(process.env.PORT ?? 8787),
    hostname: process.env.HOST ?? '127.0.0.1',
  },
  (info) => {
    console.log(`keyward edge (node) listening on http://${info.address}:${info.port}`);
  },
);
