/** Deno entry: `deno run --node-modules-dir=manual --allow-net --allow-env --allow-read edge/src/runtime/deno.ts`. */
import { createEdge } from '../create-edge.ts';
import { denoVerify } from './deno-verify.ts';
import { withSecretFiles } from './secret-files.ts';
import { createVerifyFetch } from './verify-fetch.ts';

declare const Deno: {
  env: { toObject(): Record<string, string>; get(name: string): string | undefined };
  serve(
    options: { port: number; hostname: string },
    handler: (request: Request) => Promise<Response>,
  ): unknown;
};

const edge = createEdge({ env: withSecretFiles(Deno.env.toObject()), primitive: denoVerify });
Deno.serve(
  { port: Number(Deno.env.get('PORT') ?? 8787), hostname: Deno.env.get('HOST') ?? '127.0.0.1' },
  createVerifyFetch(edge),
);
