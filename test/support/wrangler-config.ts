/**
 * The edge's wrangler.toml as wrangler itself reads it (environments, inheritance): the top level for
 * `wrangler dev` and the tests, or a named environment as `wrangler deploy --env <name>` would deploy it.
 */
import { join } from 'node:path';
import { unstable_readConfig } from 'wrangler';
import { ROOT } from './edge-processes.ts';

export const WRANGLER_CONFIG = join(ROOT, 'wrangler.toml');

export interface WranglerWorker {
  name: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  workersDev: boolean | undefined;
  previewUrls: boolean | undefined;
  /** Plain-text vars (every var this project sets is a string). */
  vars: Record<string, string>;
  crons: string[];
  routes: unknown[];
}

/** `env` undefined: the top level (what `wrangler dev`, `npm start` and the workerd tests run). */
export function readWranglerConfig(env?: string): WranglerWorker {
  const config = unstable_readConfig({ config: WRANGLER_CONFIG, env }, { hideWarnings: true });
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.vars ?? {})) {
    if (typeof value !== 'string') throw new Error(`wrangler.toml: var ${name} is not a string`);
    vars[name] = value;
  }
  return {
    name: config.name ?? '',
    compatibilityDate: config.compatibility_date ?? '',
    compatibilityFlags: config.compatibility_flags ?? [],
    workersDev: config.workers_dev,
    previewUrls: config.preview_urls,
    vars,
    crons: config.triggers?.crons ?? [],
    routes: config.routes ?? (config.route === undefined ? [] : [config.route]),
  };
}
