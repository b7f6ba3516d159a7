/** Bun entry: `bun edge/src/runtime/bun.ts`. */
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { createEdge } from '../create-edge.ts';
import { inflatingFetch } from './bun-fetch.ts';
import { listenAddress } from './listen-address.ts';
import { startRegistration } from './registration.ts';
import { withSecretFiles } from './secret-files.ts';
import { createVerifyFetch } from './verify-fetch.ts';

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: { port: number; hostname: string; fetch(request: Request): Promise<Response> }): {
    port: number;
    /** Stops accepting; false lets the requests in flight finish, resolving once they have. */
    stop(closeActiveConnections?: boolean): Promise<void>;
  };
};

// Bun implements node:crypto natively: its synchronous verify costs about a quarter of Bun's WebCrypto for HMAC
// and three quarters for Ed25519 and ECDSA (`npm run bench`, case runtimeVerify), with the same verdicts.
const env = withSecretFiles(Bun.env);
const edge = createEdge({ env, fetch: inflatingFetch, primitive: nodeVerify });
const { port, host } = listenAddress(Bun.env);
const server = Bun.serve({
  port,
  hostname: host,
  fetch: createVerifyFetch(edge),
});
console.log(`keyward edge (bun) listening on port ${server.port}`);
const registration = startRegistration(env, (message) => console.warn(message), inflatingFetch);

// A stop (SIGTERM from an orchestrator, Ctrl-C) lets the requests in flight finish, as the Node entry does;
// anything still open after 5 s is cut.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    registration?.stop();
    void server.stop(false).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
