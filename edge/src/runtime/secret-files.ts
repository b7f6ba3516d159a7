/**
 * `NAME_FILE` for the Node, Bun and Deno edge entries (the container convention for mounted secrets): NAME
 * takes the file's content, trailing line breaks dropped. Not for workerd, whose secrets are bindings.
 */
import { readFileSync } from 'node:fs';
import { EdgeError } from '../errors.ts';

/** Edge variables that hold a secret. */
export const EDGE_SECRET_FILE_VARIABLES = [
  'KEYSET_KEY',
  'UPSTASH_REDIS_REST_TOKEN',
  'EDGE_REGISTRATION_TOKEN',
] as const;

/**
 * The environment with each `NAME_FILE` read into NAME. Throws EdgeError `config_invalid` naming both when both
 * are set, or naming NAME_FILE and the path (never the content) when the file cannot be read.
 */
export function withSecretFiles<Env extends Record<string, string | undefined>>(env: Env): Env {
  const resolved: Record<string, string | undefined> = { ...env };
  for (const name of EDGE_SECRET_FILE_VARIABLES) {
    const path = env[`${name}_FILE`];
    if (path === undefined || path === '') continue;
    if (env[name] !== undefined && env[name] !== '')
      throw new EdgeError('config_invalid', `${name}: set ${name} or ${name}_FILE, not both`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'unreadable';
      throw new EdgeError('config_invalid', `${name}_FILE: cannot read ${path} (${code})`);
    }
    resolved[name] = text.replace(/[\r\n]+$/, '');
    delete resolved[`${name}_FILE`];
  }
  return resolved as Env;
}
