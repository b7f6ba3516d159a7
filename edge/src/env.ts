/**
 * What the edge reads its configuration from: Worker bindings, or the process environment on Deno, Bun and
 * Node. Values are strings, except the optional `KEYSETS` KV namespace binding.
 */
export type EdgeEnv = { readonly [name: string]: unknown };

/** The part of a Workers KV namespace the edge uses. */
export interface KeysetKv {
  get(key: string, type: 'text'): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
}
