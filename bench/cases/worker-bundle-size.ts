/**
 * The worker bundle as wrangler would upload it (`wrangler deploy --dry-run --outdir`), gzipped,
 * against the Workers size limit; which packages the bytes come from (an esbuild metafile of the same entry); and
 * that bundle's cold start under workerd (worker-cold-start.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ROOT } from '../../test/support/edge-processes.ts';
import { readWranglerConfig } from '../../test/support/wrangler-config.ts';
import type { BenchFixture } from '../support/fixture.ts';
import { measureWorkerColdStart, type WorkerColdStart } from './worker-cold-start.ts';

/** The Workers Free plan limit on a compressed Worker (paid plans allow 10 MB). */
export const WORKER_LIMIT_BYTES = 3 * 1024 * 1024;

export interface BundleSize {
  tool: string;
  rawBytes: number;
  gzipBytes: number;
  limitBytes: number;
  fractionOfLimit: number;
  /** Input bytes per package (or `keyward` for the project's own files), largest first. */
  inputBytesByPackage: Record<string, number>;
  coldStart: WorkerColdStart;
}

/** Builds the worker as wrangler deploys it and measures it; see the file's comment. */
export async function measureWorkerBundleSize(
  fixture: BenchFixture,
  options: { coldStartRounds: number },
): Promise<BundleSize> {
  const outdir = mkdtempSync(join(tmpdir(), 'keyward-bundle-'));
  try {
    const run = spawnSync(
      process.execPath,
      [
        `${ROOT}node_modules/wrangler/bin/wrangler.js`,
        'deploy',
        '--dry-run',
        '--env',
        'production',
        '--outdir',
        outdir,
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      },
    );
    if (run.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${run.stdout}\n${run.stderr}`);
    const files = readdirSync(outdir).filter((name) => name.endsWith('.js') || name.endsWith('.mjs'));
    if (files.length !== 1)
      throw new Error(`wrangler deploy --dry-run wrote ${files.join(', ')}; expected one module`);
    const bytes = Buffer.concat(files.map((name) => readFileSync(join(outdir, name))));
    const gzipBytes = gzipSync(bytes).length;
    const wrangler = readWranglerConfig('production');
    const coldStart = await measureWorkerColdStart(fixture, bytes.toString('utf8'), {
      rounds: options.coldStartRounds,
      compatibilityDate: wrangler.compatibilityDate,
      compatibilityFlags: wrangler.compatibilityFlags,
    });
    return {
      tool: 'wrangler deploy --dry-run',
      rawBytes: bytes.length,
      gzipBytes,
      limitBytes: WORKER_LIMIT_BYTES,
      fractionOfLimit: gzipBytes / WORKER_LIMIT_BYTES,
      inputBytesByPackage: await inputsByPackage(),
      coldStart,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function inputsByPackage(): Promise<Record<string, number>> {
  const result = await build({
    entryPoints: [`${ROOT}edge/src/runtime/worker.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const totals = new Map<string, number>();
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    if (path.endsWith('.map')) continue;
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = match?.[1] ?? 'keyward';
      totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
    }
  }
  return Object.fromEntries([...totals].sort((a, b) => b[1] - a[1]));
}
