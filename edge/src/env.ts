/**
 * What the edge reads its configuration from: the Worker's env, whose vars `wrangler types` reads from
 * wrangler.toml into edge/worker-configuration.d.ts (`npm run types:worker`), or the process environment on
 * Deno, Bun and Node. Secrets (`wrangler secret put`) and variables wrangler.toml leaves unset are named here;
 * all are optional to the type, and config.ts says which are required.
 */
export type EdgeVariable =
  | keyof Cloudflare.Env
  | 'KEYSET_KEY'
  | 'KEYSET_VERIFY_KEY'
  | 'KEYSET_URL'
  | 'UPSTASH_REDIS_REST_URL'
  | 'UPSTASH_REDIS_REST_TOKEN'
  | 'KEYSET_MAX_STALENESS'
  | 'VERIFY_CACHE_SIZE'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'MAX_TOKEN_BYTES'
  | 'EDGE_METRICS'
  | 'ACCESS_LOG'
  | 'EDGE_PUBLIC_URL'
  | 'EDGE_REGISTRATION_TOKEN'
  | 'CONTROL_PLANE_URL';

export type EdgeEnv = { readonly [name in EdgeVariable]?: string } & {
  /** The optional Workers KV binding; a process environment can only hold a string here, which is refused. */
  readonly KEYSETS?: KeysetKv | string;
};

/** The part of a Workers KV namespace the edge uses. */
export interface KeysetKv {
  get(key: string, type: 'text'): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
}
