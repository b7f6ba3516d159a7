/** Cloudflare Workers entry (wrangler.toml `main`). */
import type { ExportedHandler, Response as WorkerResponse } from '@cloudflare/workers-types/index.ts';
import { fetchForEnv, refreshForEnv } from './edge-for-env.ts';

// The casts only bridge the DOM typings (used by the portable code) and the Workers typings of the same objects.
export default {
  fetch: (request, env, ctx) =>
    fetchForEnv(request as unknown as Request, env, ctx) as unknown as Promise<WorkerResponse>,
  scheduled: (_controller, env, ctx) => ctx.waitUntil(refreshForEnv(env)),
} satisfies ExportedHandler<Env>;
