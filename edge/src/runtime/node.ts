/** Node.js entry: `node edge/src/runtime/node.ts` (env: KEYSET_KEY etc., PORT and HOST: listen-address.ts). */
import { createServer } from 'node:http';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { createEdge } from '../create-edge.ts';
import { listenAddress } from './listen-address.ts';
import { createNodeListener } from './node-listener.ts';
import { startRegistration } from './registration.ts';
import { withSecretFiles } from './secret-files.ts';

const log = (message: string) => console.warn(message);
// Synchronous node:crypto: Node's WebCrypto pays a thread-pool hop per verify.
const env = withSecretFiles(process.env);
const edge = createEdge({ env, primitive: nodeVerify, log });
// Registers only once it listens: the control plane pushes to it at once.
let registration: ReturnType<typeof startRegistration>;
const { port, host } = listenAddress(process.env);
const server = createServer(createNodeListener(edge));
server.listen(port, host, () => {
  const address = server.address();
  const where = typeof address === 'object' && address !== null ? address : undefined;
  console.log(`keyward edge (node) listening on http://${where?.address}:${where?.port}`);
  registration = startRegistration(env, log);
});

// A stop (SIGTERM from an orchestrator, Ctrl-C) lets the requests in flight finish; idle keep-alive
// connections close (server.close closes those idle now), and anything still open after 5 s is cut.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    registration?.stop();
    server.close(() => process.exit(0));
    // A keep-alive connection whose request was in flight turns idle once answered: close it then too.
    setInterval(() => server.closeIdleConnections(), 50).unref();
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
