/** Deno entry: `deno run --node-modules-dir=manual --allow-net --allow-env --allow-read edge/src/runtime/deno.ts`. */
import { createEdge } from '../create-edge.ts';
import { denoVerify } from './deno-verify.ts';
import { listenAddress } from './listen-address.ts';
import { startRegistration } from './registration.ts';
import { withSecretFiles } from './secret-files.ts';
import { createVerifyFetch } from './verify-fetch.ts';

declare const Deno: {
  env: { toObject(): Record<string, string>; get(name: string): string | undefined };
  serve(
    options: { port: number; hostname: string },
    handler: (request: Request) => Promise<Response>,
  ): {
    /** Stops accepting and resolves once the requests in flight are answered. */
    shutdown(): Promise<void>;
  };
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  exit(code: number): never;
};

const env = withSecretFiles(Deno.env.toObject());
const edge = createEdge({ env, primitive: denoVerify });
const { port, host } = listenAddress({ PORT: Deno.env.get('PORT'), HOST: Deno.env.get('HOST') });
const server = Deno.serve({ port, hostname: host }, createVerifyFetch(edge));
const registration = startRegistration(env, (message) => console.warn(message));

// A stop (SIGTERM from an orchestrator, Ctrl-C) lets the requests in flight finish, as the Node entry does;
// anything still open after 5 s is cut.
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  Deno.addSignalListener(signal, () => {
    if (stopping) return;
    stopping = true;
    registration?.stop();
    void server.shutdown().then(() => Deno.exit(0));
    setTimeout(() => Deno.exit(0), 5_000);
  });
}
