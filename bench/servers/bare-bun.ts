/**
 * The fastest /verify Bun serves without verifying: Bun.serve with a plain fetch handler and no framework (the
 * HTTP floor on Bun). Env: PORT (0 for any), BENCH_ANSWER (JSON {kid, claims}).
 */
import { type BareAnswerSpec, bareFetchHandler } from './bare-answer.ts';

declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: { port: number; hostname: string; fetch(request: Request): Response | Promise<Response> }): {
    port: number;
  };
};

const fetch = bareFetchHandler(JSON.parse(Bun.env.BENCH_ANSWER ?? '{}') as BareAnswerSpec);
const server = Bun.serve({ port: Number(Bun.env.PORT ?? 0), hostname: '127.0.0.1', fetch });
console.log(`bare bun listening on port ${server.port}`);
