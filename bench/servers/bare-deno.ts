/**
 * The fastest /verify Deno serves: Deno.serve with a plain handler and no framework; without verifying (the HTTP
 * floor on Deno) or with the raw verify (bare-answer.ts). Env: PORT (0 for any), BENCH_ANSWER or BENCH_KEYS.
 */
import { answererOf, bareFetchHandler } from './bare-answer.ts';

declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(
    options: { port: number; hostname: string; onListen(address: { port: number }): void },
    handler: (request: Request) => Response | Promise<Response>,
  ): unknown;
};

const handler = bareFetchHandler(answererOf((name) => Deno.env.get(name)));
Deno.serve(
  {
    port: Number(Deno.env.get('PORT') ?? 0),
    hostname: '127.0.0.1',
    onListen: ({ port }) => console.log(`bare deno listening on port ${port}`),
  },
  handler,
);
