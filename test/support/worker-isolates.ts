/**
 * Isolates of one Worker, for real: the Worker bundled as `wrangler deploy` would upload it (`--dry-run`), then one
 * workerd process per Cloudflare location (Miniflare), each running the bundle as several Workers. workerd gives
 * every Worker its own isolate (module state, held keyset), and the Workers of one process share `caches.default`
 * as the isolates of one data center do; two processes share nothing, like two locations (and like two
 * `wrangler dev` processes). Each isolate answers HTTP on its own loopback port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { ROOT } from './edge-processes.ts';
import { startProcess } from './managed-process.ts';
import { readWranglerConfig } from './wrangler-config.ts';

export interface WorkerBundle {
  /** The ES module wrangler would upload. */
  scriptPath: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** wrangler.toml's top-level vars. */
  vars: Record<string, string>;
  remove(): void;
}

export interface Isolate {
  name: string;
  url: string;
}

export interface Location {
  name: string;
  isolates: Isolate[];
  stop(): Promise<void>;
}

const BUNDLE_TIMEOUT_MS = 90_000;

/** `wrangler deploy --dry-run --outdir`: esbuild over wrangler.toml's `main` (top level), nothing uploaded. */
export async function bundleWorker(): Promise<WorkerBundle> {
  const outdir = mkdtempSync(join(tmpdir(), 'keyward-worker-bundle-'));
  const child = startProcess(
    'wrangler deploy --dry-run',
    process.execPath,
    // --env="": the top level, named so that wrangler does not warn that no environment was chosen.
    [
      join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
      'deploy',
      '--dry-run',
      '--env=',
      '--outdir',
      outdir,
    ],
    { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' } },
  );
  const code = await new Promise<number | null | 'timeout'>((resolve) => {
    if (child.exited) resolve(child.child.exitCode);
    child.child.once('exit', (exitCode) => resolve(exitCode));
    setTimeout(() => resolve('timeout'), BUNDLE_TIMEOUT_MS).unref();
  });
  if (code !== 0) {
    await child.stop();
    rmSync(outdir, { recursive: true, force: true });
    throw new Error(`bundling the worker failed (${String(code)}):\n${child.output()}`);
  }
  const config = readWranglerConfig();
  return {
    scriptPath: join(outdir, 'worker.js'),
    compatibilityDate: config.compatibilityDate,
    compatibilityFlags: config.compatibilityFlags,
    vars: config.vars,
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/**
 * One location: a workerd process running `isolates` copies of the bundle, with wrangler.toml's vars and `vars`
 * over them. `ports` fixes the first isolates' ports (for EDGE_URLS); the others get free ones.
 */
export async function startLocation(
  bundle: WorkerBundle,
  name: string,
  isolates: number,
  vars: Record<string, string>,
  ports: number[] = [],
): Promise<Location> {
  const names = Array.from({ length: isolates }, (_, index) => `${name}-${index + 1}`);
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      workers: names.map((worker, index) => ({
        name: worker,
        modules: true,
        scriptPath: bundle.scriptPath,
        // Module names are relative to this; workerd refuses a name that climbs out of it.
        modulesRoot: dirname(bundle.scriptPath),
        compatibilityDate: bundle.compatibilityDate,
        compatibilityFlags: bundle.compatibilityFlags,
        bindings: { ...bundle.vars, ...vars },
        unsafeDirectSockets: [{ host: '127.0.0.1', port: ports[index] ?? 0 }],
      })),
    }),
  );
  try {
    await miniflare.ready;
    const urls = await Promise.all(names.map((worker) => miniflare.unsafeGetDirectURL(worker)));
    return {
      name,
      isolates: names.map((worker, index) => ({
        name: worker,
        url: (urls[index] as URL).href.replace(/\/$/, ''),
      })),
      stop: () => miniflare.dispose(),
    };
  } catch (error) {
    await miniflare.dispose().catch(() => {});
    throw error;
  }
}
