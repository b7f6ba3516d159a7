/**
 * The fastest /verify Bun serves: Bun.serve with a plain fetch handler and no framework; without verifying (the
 * HTTP floor on Bun) or with the raw verify (bare-answer.ts). Env: PORT (0 for any), BENCH_ANSWER or BENCH_KEYS.
 */
import { answererOf, bareFetchHandler } from './bare-answer.ts';

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: { port: number; hostname: string; fetch(request: Request): Response | Promise<Response> }): {
    port: number;
  };
};

const fetch = bareFetchHandler(answererOf((name) => Bun.env[name]));
const server = Bun.serve({ port: Number(Bun.env.PORT ?? 0), hostname: '127.0.0.1', fetch });
console.log(`bare bun listening on port ${server.port}`);
