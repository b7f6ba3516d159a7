/**
 * Section 2: /verify over HTTP with autocannon (in-process, 50 connections, loopback), Keyward's Node and Bun
 * entries against bare baselines on the same runtime. Every configuration runs once per round, interleaved.
 */
import autocannon from 'autocannon';
import { cpuMs, sampleRss } from './processes.ts';
import type { Server } from './servers.ts';
import { type Summary, summarize } from './stats.ts';

export interface HttpConfig {
  /** Key in results.json, e.g. `node/keyward/GET`. */
  id: string;
  server: Server;
  method: 'GET' | 'POST';
}

export interface HttpOptions {
  connections: number;
  warmupSeconds: number;
  roundSeconds: number;
  rounds: number;
}

export interface HttpResult {
  id: string;
  server: string;
  method: 'GET' | 'POST';
  reqPerSec: Summary;
  p50Ms: Summary;
  p99Ms: Summary;
  /**
   * CPU time the server process used per request answered, in µs: what the server costs, whatever the load
   * generator could send (on 2 cores autocannon is often the bottleneck, and req/s then measures it).
   */
  serverCpuUsPerRequest: Summary;
  requests: number;
  non2xx: number;
  errors: number;
  perRound: { reqPerSec: number; p50Ms: number; p99Ms: number; serverCpuUsPerRequest: number }[];
}

async function load(config: HttpConfig, token: string, seconds: number, connections: number) {
  const post = config.method === 'POST';
  const result = await autocannon({
    url: `${config.server.url}/verify`,
    connections,
    pipelining: 1,
    duration: seconds,
    method: config.method,
    headers: post ? { 'content-type': 'application/json' } : { authorization: `Bearer ${token}` },
    body: post ? JSON.stringify({ token }) : undefined,
  });
  return result;
}

/** Runs every config; returns results and the peak RSS of each server process under load. */
export async function benchHttp(
  configs: readonly HttpConfig[],
  token: string,
  options: HttpOptions,
): Promise<{ results: HttpResult[]; peakRssBytes: Map<Server, number> }> {
  const peakRssBytes = new Map<Server, number>();
  const track = async (server: Server, task: () => Promise<autocannon.Result>) => {
    const sampler = sampleRss(server.child.process.pid);
    try {
      return await task();
    } finally {
      const peak = sampler.stop();
      if (!(peak <= (peakRssBytes.get(server) ?? 0))) peakRssBytes.set(server, peak);
    }
  };
  for (const config of configs) {
    const warm = await track(config.server, () =>
      load(config, token, options.warmupSeconds, options.connections),
    );
    if (warm.non2xx > 0 || warm['2xx'] === 0) {
      throw new Error(`${config.id}: warm-up got ${warm.non2xx} non-2xx answers of ${warm.requests.total}`);
    }
  }
  const rounds = new Map(
    configs.map((config) => [config, [] as { run: autocannon.Result; cpuMs: number }[]]),
  );
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < configs.length; i++) {
      const config = configs[(i + round) % configs.length] as HttpConfig;
      const pid = config.server.child.process.pid;
      const cpuBefore = cpuMs(pid);
      const run = await track(config.server, () =>
        load(config, token, options.roundSeconds, options.connections),
      );
      rounds.get(config)?.push({ run, cpuMs: cpuMs(pid) - cpuBefore });
    }
  }
  const results = configs.map((config) => {
    const measured = rounds.get(config) as { run: autocannon.Result; cpuMs: number }[];
    const runs = measured.map((m) => m.run);
    const perRound = measured.map(({ run, cpuMs }) => ({
      reqPerSec: run['2xx'] / run.duration,
      p50Ms: run.latency.p50,
      p99Ms: run.latency.p99,
      serverCpuUsPerRequest: (cpuMs * 1000) / run.requests.total,
    }));
    return {
      id: config.id,
      server: config.server.name,
      method: config.method,
      reqPerSec: summarize(perRound.map((r) => r.reqPerSec)),
      p50Ms: summarize(perRound.map((r) => r.p50Ms)),
      p99Ms: summarize(perRound.map((r) => r.p99Ms)),
      serverCpuUsPerRequest: summarize(perRound.map((r) => r.serverCpuUsPerRequest)),
      requests: runs.reduce((sum, run) => sum + run.requests.total, 0),
      non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
      perRound,
    };
  });
  return { results, peakRssBytes };
}

/** Per-round ratio of a field, subject over baseline, from interleaved rounds. */
export function httpRatio(
  subject: HttpResult,
  baseline: HttpResult,
  field: 'reqPerSec' | 'p50Ms' | 'p99Ms' | 'serverCpuUsPerRequest',
): Summary {
  return summarize(subject.perRound.map((r, i) => r[field] / (baseline.perRound[i]?.[field] as number)));
}
