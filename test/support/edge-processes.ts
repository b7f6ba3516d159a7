/**
 * The edge worker as deployed: under workerd through `wrangler dev` (as `npm start` runs it), and the Node.js,
 * Deno and Bun runtime entries as child processes, each on its own free loopback port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EDGE_ENTRY_COMMANDS } from './edge-entry-commands.ts';
import { healthOf } from './edge-http-client.ts';
import { freePort } from './free-port.ts';
import { KEYSET_VERIFY_KEY } from './keysets.ts';
import { type ManagedProcess, startProcess } from './managed-process.ts';
import { waitFor } from './wait-for.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The runtimes the end-to-end suites run every edge scenario on. */
export type EdgeRuntime = 'workerd' | 'node' | 'bun';
/** Every runtime an edge process can run on. */
export type EdgeProcessRuntime = EdgeRuntime | 'deno';

export interface EdgeOptions {
  /** KEYSET_KEY; left out, the edge holds no secret and takes only public-only (bare signed) keysets. */
  keysetKey?: string;
  /** KEYSET_VERIFY_KEY (one key, or two comma-separated); the test one (keysets.ts) unless given. */
  verifyKey?: string;
  /** The control plane's http://host:HTTP_PORT/keyset. */
  keysetUrl?: string;
  keysetTtl?: string;
  /** Chosen beforehand when the control plane must know the URL (EDGE_URLS) before the edge starts. */
  port?: number;
  /** More variables for the Node and Bun entries, e.g. VERIFY_CACHE_SIZE. */
  env?: Record<string, string>;
  /** The Node entry's stdout and stderr go to this file rather than through a pipe to this process. */
  outputFile?: string;
}

export interface EdgeProcess<R extends EdgeProcessRuntime = EdgeRuntime> {
  runtime: R;
  port: number;
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Generous: wrangler bundles the worker with esbuild and starts workerd, on a 2-core machine. */
const WORKERD_START_TIMEOUT_MS = 90_000;
const PROCESS_START_TIMEOUT_MS = 30_000;

export async function startWorkerdEdge(options: EdgeOptions): Promise<EdgeProcess> {
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistDir = mkdtempSync(join(tmpdir(), 'keyward-e2e-wrangler-'));
  const args = [
    join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspectorPort),
    '--persist-to',
    persistDir,
    '--show-interactive-dev-session=false',
    '--var',
    `KEYSET_VERIFY_KEY:${options.verifyKey ?? KEYSET_VERIFY_KEY}`,
  ];
  if (options.keysetKey !== undefined) args.push('--var', `KEYSET_KEY:${options.keysetKey}`);
  if (options.keysetUrl !== undefined) args.push('--var', `KEYSET_URL:${options.keysetUrl}`);
  if (options.keysetTtl !== undefined) args.push('--var', `KEYSET_TTL:${options.keysetTtl}`);
  const child = startProcess('wrangler dev', process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  return awaitEdge('workerd', port, child, WORKERD_START_TIMEOUT_MS, () =>
    rmSync(persistDir, { recursive: true, force: true }),
  );
}

export async function startNodeEdge(options: EdgeOptions): Promise<EdgeProcess> {
  const port = options.port ?? (await freePort());
  const child = startProcess('node edge', process.execPath, [join(ROOT, 'edge/src/runtime/node.ts')], {
    cwd: ROOT,
    env: edgeEnv(options, port),
    outputFile: options.outputFile,
  });
  return awaitEdge('node', port, child, PROCESS_START_TIMEOUT_MS);
}

export async function startDenoEdge(options: EdgeOptions): Promise<EdgeProcess<'deno'>> {
  const port = options.port ?? (await freePort());
  const [command, ...args] = EDGE_ENTRY_COMMANDS.deno as [string, ...string[]];
  const child = startProcess('deno edge', command, args, { cwd: ROOT, env: edgeEnv(options, port) });
  // Deno's first start compiles the TypeScript.
  return awaitEdge('deno', port, child, WORKERD_START_TIMEOUT_MS);
}

export async function startBunEdge(options: EdgeOptions): Promise<EdgeProcess> {
  const port = options.port ?? (await freePort());
  const child = startProcess('bun edge', join(ROOT, 'node_modules/.bin/bun'), ['edge/src/runtime/bun.ts'], {
    cwd: ROOT,
    env: edgeEnv(options, port),
  });
  return awaitEdge('bun', port, child, PROCESS_START_TIMEOUT_MS);
}

function edgeEnv(options: EdgeOptions, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...options.env,
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    KEYSET_VERIFY_KEY: options.verifyKey ?? KEYSET_VERIFY_KEY,
  };
  if (options.keysetKey !== undefined) env.KEYSET_KEY = options.keysetKey;
  if (options.keysetUrl !== undefined) env.KEYSET_URL = options.keysetUrl;
  if (options.keysetTtl !== undefined) env.KEYSET_TTL = options.keysetTtl;
  return env;
}

/** Waits (bounded) until the edge answers HTTP at all; 503 no_keyset counts as up. */
async function awaitEdge<R extends EdgeProcessRuntime>(
  runtime: R,
  port: number,
  child: ManagedProcess,
  timeoutMs: number,
  cleanUp: () => void = () => {},
): Promise<EdgeProcess<R>> {
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await child.stop();
    cleanUp();
  };
  try {
    const state = await waitFor(
      async () => {
        if (child.exited) return 'exited';
        await healthOf(url);
        return 'up';
      },
      { what: `the ${runtime} edge on ${url}`, timeoutMs, intervalMs: 100 },
    );
    if (state === 'exited') throw new Error(`the ${runtime} edge exited before answering HTTP`);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- ${runtime} edge output ---\n${child.output()}`);
  }
  return { runtime, port, url, process: child, stop };
}
