/**
 * Debian's `prometheus` and `promtool` (apt-get install prometheus; .ci/run installs them when missing): a real
 * Prometheus on a free loopback port scraping given targets every second, with its data in a temporary
 * directory, and its HTTP API.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';
import { type ManagedProcess, startProcess } from './managed-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The shipped alerting rules and their `promtool test rules` file. */
export const ALERT_RULES = join(ROOT, 'deploy/prometheus/keyward-alerts.yml');
export const ALERT_RULES_TEST = join(ROOT, 'deploy/prometheus/keyward-alerts.test.yml');

function onPath(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Why the Prometheus tests cannot run here, or null when they can. Only outside CI may they be skipped: in CI
 * (`CI` set) a missing binary is a failure, reported by the test itself.
 */
export function prometheusMissing(): string | null {
  if (process.env.CI) return null;
  const missing = ['promtool', 'prometheus'].filter((command) => !onPath(command));
  return missing.length === 0
    ? null
    : `${missing.join(' and ')} not on PATH: apt-get install prometheus (or run .ci/run, which installs it)`;
}

/** Runs promtool (with `input` on stdin, as `promtool check metrics` reads); its exit code and output (stdout and stderr). */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', cwd: ROOT, timeout: 60_000, input });
  if (result.error) return { status: null, output: `promtool could not run: ${result.error.message}` };
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface Prometheus {
  url: string;
  /** The `data` of GET /api/v1/<path>; throws naming the status when the API answers anything but success. */
  api<T>(path: string): Promise<T>;
  /** An instant query's result vector. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  output(): string;
  stop(): Promise<void>;
}

/** Control planes are scraped as job `keyward`, edges (`edgeTargets`) as job `keyward-edge`. */
export async function startPrometheus(options: {
  targets: string[];
  edgeTargets?: string[];
  ruleFiles?: string[];
}): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'keyward-prometheus-'));
  const port = await freePort();
  const jobs = [{ job_name: 'keyward', static_configs: [{ targets: options.targets }] }];
  if (options.edgeTargets?.length) {
    jobs.push({ job_name: 'keyward-edge', static_configs: [{ targets: options.edgeTargets }] });
  }
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: jobs,
  };
  // JSON is YAML.
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const process_: ManagedProcess = startProcess(
    'prometheus',
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  const url = `http://127.0.0.1:${port}`;

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${url}/api/v1/${path}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (response.status !== 200 || body.status !== 'success') {
      throw new Error(`GET /api/v1/${path}: ${response.status} ${body.error ?? body.status}`);
    }
    return body.data;
  }

  return {
    url,
    api,
    async query(expr) {
      const data = await api<{
        resultType: string;
        result: Array<{ metric: Record<string, string>; value: [number, string] }>;
      }>(`query?query=${encodeURIComponent(expr)}`);
      return data.result;
    },
    output: () => process_.output(),
    async stop() {
      await process_.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
