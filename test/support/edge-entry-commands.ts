/** The command lines that run the edge's Node, Deno and Bun entries from the repository root. */
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '../..');
const BIN = join(REPO_ROOT, 'node_modules/.bin');

/** Each runtime's command and arguments, to be spawned with `cwd: REPO_ROOT`. */
export const EDGE_ENTRY_COMMANDS: Record<'node' | 'deno' | 'bun', string[]> = {
  node: [process.execPath, 'edge/src/runtime/node.ts'],
  deno: [
    join(BIN, 'deno'),
    'run',
    '--node-modules-dir=manual',
    '--allow-net',
    '--allow-env',
    '--allow-read',
    'edge/src/runtime/deno.ts',
  ],
  bun: [join(BIN, 'bun'), 'edge/src/runtime/bun.ts'],
};
