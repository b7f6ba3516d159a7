/** Bare Hono (no verify) on Bun.serve, as the edge's Bun entry serves. Env: PORT. */
import { createBareHonoApp } from './bare-hono-app.ts';

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: { port: number; hostname: string; fetch(request: Request): Response | Promise<Response> }): {
    port: number;
  };
};

const app = createBareHonoApp();
const server = Bun.serve({ port: Number(Bun.env.PORT ?? 0), hostname: '127.0.0.1', fetch: app.fetch });
console.log(`bare hono (bun) listening on port ${server.port}`);
