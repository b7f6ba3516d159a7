/** Bare Hono (no verify) on Node through @hono/node-server, as the edge's Node entry serves. Env: PORT. */
import { serve } from '@hono/node-server';
import { createBareHonoApp } from './bare-hono-app.ts';

const app = createBareHonoApp();
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  console.log(`bare hono (node) listening on port ${info.port}`);
});
