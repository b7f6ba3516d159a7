/**
 * The fastest /verify Deno serves without verifying: Deno.serve with a plain handler and no framework (the HTTP
 * floor on Deno). Env: PORT (0 for any), BENCH_ANSWER (JSON {kid, claims}).
 */
import { type BareAnswerSpec, bareFetchHandler } from './bare-answer.ts';

declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(
    options: { port: number; hostname: string; onListen(address: { port: number }): void },
    handler: (request: Request) => Response | Promise<Response>,
  ): unknown;
};

const handler = bareFetchHandler(JSON.parse(Deno.env.get('BENCH_ANSWER') ?? '{}') as BareAnswerSpec);
Deno.serve(
  {
    port: Number(Deno.env.get('PORT') ?? 0),
    hostname: '127.0.0.1',
    onListen: ({ port }) => console.log(`bare deno listening on port ${port}`),
  },
  handler,
);
