/** Versions of the runtimes and servers a measurement ran on, for its report. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The Bun binary from node_modules, as the edge's Bun entry runs on it. */
export const BUN = join(ROOT, 'node_modules/.bin/bun');

function output(command: string, args: string[]): string {
  return spawnSync(command, args, { encoding: 'utf8' }).stdout?.trim() || 'unknown';
}

export function bunVersion(): string {
  return output(BUN, ['--version']);
}

/** `valkey-server --version` prints e.g. `Valkey server v=8.0.1 sha=...`. */
export function valkeyVersion(): string {
  return /v=([\d.]+)/.exec(output('valkey-server', ['--version']))?.[1] ?? 'unknown';
}

/** The workerd that wrangler and Miniflare run, from its package. */
export function workerdVersion(): string {
  return JSON.parse(readFileSync(join(ROOT, 'node_modules/workerd/package.json'), 'utf8')).version;
}
