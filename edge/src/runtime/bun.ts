/** Bun entry: `bun edge/src/runtime/bun.ts`. */
import { createEdge } from '../create-edge.ts';
import { inflatingFetch } from './bun-fetch.ts';

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: { port: number; hostname: string; fetch(request: Request): Promise<Response> }): {
    port: number;
  };
};

const edge = createEdge({ env: Bun.env, fetch: inflatingFetch });
const server = Bun.serve({
  port: Number(Bun.env.PORT ?? 8787),
  hostname: Bun.env.HOST ?? '127.0.0.1',
  fetch: (request) => edge.fetch(request),
});
console.log(`keyward edge (bun) listening on port ${server.port}`);
