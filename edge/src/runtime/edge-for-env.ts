/**
 * One edge per env object, for the Worker, where the env arrives with each event rather than at start-up. A bad
 * config is logged (naming the variable) and answered with a generic 500, never re-parsed per request.
 */
import { createEdge, type Edge, type EdgeDeps, type WaitUntil } from '../create-edge.ts';
import type { EdgeEnv } from '../env.ts';
import { EdgeError } from '../errors.ts';
import { CONFIG_INVALID } from '../http/error-answers.ts';

const edges = new WeakMap<object, Edge | EdgeError>();

export function edgeForEnv(env: EdgeEnv, deps: Omit<EdgeDeps, 'env'> = {}): Edge | EdgeError {
  let edge = edges.get(env);
  if (edge === undefined) {
    try {
      edge = createEdge({ ...deps, env });
    } catch (error) {
      if (!(error instanceof EdgeError)) throw error;
      console.error(`keyward edge: ${error.message}`);
      edge = error;
    }
    edges.set(env, edge);
  }
  return edge;
}

/** The answer to every request while the config is bad. */
export function configInvalidResponse(): Response {
  return Response.json(CONFIG_INVALID.body, { status: CONFIG_INVALID.status });
}

/** The Worker's fetch handler body. */
export function fetchForEnv(request: Request, env: EdgeEnv, ctx?: WaitUntil): Promise<Response> {
  const edge = edgeForEnv(env);
  return edge instanceof EdgeError ? Promise.resolve(configInvalidResponse()) : edge.fetch(request, ctx);
}

/** The Worker's scheduled handler body: a pull from the origins (and a KV refresh). */
export async function refreshForEnv(env: EdgeEnv): Promise<void> {
  const edge = edgeForEnv(env);
  if (!(edge instanceof EdgeError)) await edge.refresh('scheduled');
}
