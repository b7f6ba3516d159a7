/**
 * The soak's memory watch: the RSS of the control plane and of every edge process, sampled from /proc at a
 * fixed interval, and what the series says about growth once warmed up.
 */
import { basename } from 'node:path';
import type { EdgeProcess } from '../support/edge-processes.ts';
import { rssBytes } from '../support/process-stats.ts';
import { descendantWhere } from '../support/process-tree.ts';
import { round } from '../support/stats.ts';

interface Watched {
  name: string;
  pid: () => number | undefined;
}

export interface Sample {
  atMs: number;
  rss: Record<string, number>;
  /** The last sample, taken once the load has stopped: it counts for `end`, not for the slope. */
  afterLoad?: boolean;
}

/** The processes whose memory the soak follows: the control plane, and what each edge runs as. */
function watchedProcesses(controlPlanePid: number | undefined, edges: readonly EdgeProcess[]): Watched[] {
  const watched: Watched[] = [{ name: 'control plane', pid: () => controlPlanePid }];
  for (const edge of edges) {
    const leader = edge.process.child.pid;
    if (edge.runtime === 'workerd' && leader !== undefined) {
      // wrangler's bin script starts wrangler itself (a second node), which runs two workerd processes: a
      // proxy on the edge's port, and the one that runs the worker, behind it. Looked up at each sample, so
      // that a workerd restarted by wrangler is followed.
      const workerd = (proxy: boolean) => () =>
        descendantWhere(
          leader,
          (argv) =>
            basename(argv[0] ?? '') === 'workerd' &&
            argv.includes(`--socket-addr=entry=127.0.0.1:${edge.port}`) === proxy,
        );
      const wrangler = descendantWhere(leader, (argv) =>
        argv.some((arg) => arg.endsWith('wrangler-dist/cli.js')),
      );
      watched.push(
        { name: 'workerd edge (workerd running the worker)', pid: workerd(false) },
        { name: 'workerd edge (wrangler dev proxy, workerd)', pid: workerd(true) },
        { name: 'workerd edge (wrangler dev, node)', pid: () => wrangler },
      );
    } else {
      watched.push({ name: `${edge.runtime} edge`, pid: () => leader });
    }
  }
  return watched;
}

/** Least-squares slope of RSS over time, in KiB per minute. */
function slopeKiBPerMinute(points: { atMs: number; bytes: number }[]): number {
  if (points.length < 2) return Number.NaN;
  const xs = points.map((point) => point.atMs / 60_000);
  const ys = points.map((point) => point.bytes / 1024);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += ((xs[i] as number) - meanX) * ((ys[i] as number) - meanY);
    den += ((xs[i] as number) - meanX) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** Highest RSS in the second half of `points` minus the highest in the first half, in bytes. */
function peakGrowth(points: { atMs: number; bytes: number }[]): number {
  if (points.length < 2) return Number.NaN;
  const middle = ((points[0] as { atMs: number }).atMs + (points.at(-1) as { atMs: number }).atMs) / 2;
  const peak = (half: { bytes: number }[]) => Math.max(...half.map((point) => point.bytes));
  return (
    peak(points.filter((point) => point.atMs > middle)) - peak(points.filter((point) => point.atMs <= middle))
  );
}

/** Samples the watched processes' RSS on demand; times are counted from the watch's creation. */
export class MemoryWatch {
  readonly samples: Sample[] = [];
  /** Every pid seen per watched name: more than one when a process was replaced during the run. */
  readonly pidsSeen = new Map<string, Set<number>>();
  readonly #watched: Watched[];
  readonly #startedAt = Date.now();

  constructor(controlPlanePid: number | undefined, edges: readonly EdgeProcess[]) {
    this.#watched = watchedProcesses(controlPlanePid, edges);
  }

  sample(afterLoad = false): void {
    const rss: Record<string, number> = {};
    for (const entry of this.#watched) {
      const pid = entry.pid();
      if (pid !== undefined) {
        this.pidsSeen.set(entry.name, (this.pidsSeen.get(entry.name) ?? new Set()).add(pid));
      }
      rss[entry.name] = rssBytes(pid);
    }
    this.samples.push({ atMs: Date.now() - this.#startedAt, rss, afterLoad });
  }

  /** Per process: start, end, max, and the slope and peak growth of the samples after `warmupMs`, in KiB. */
  figures(warmupMs: number) {
    const afterWarmup = this.samples.filter((entry) => entry.atMs >= warmupMs && !entry.afterLoad);
    return Object.fromEntries(
      this.#watched.map(({ name }) => {
        const series = this.samples.map((entry) => ({
          atMs: entry.atMs,
          bytes: entry.rss[name] ?? Number.NaN,
        }));
        const finite = series.filter((point) => Number.isFinite(point.bytes));
        const warm = afterWarmup
          .map((entry) => ({ atMs: entry.atMs, bytes: entry.rss[name] ?? Number.NaN }))
          .filter((point) => Number.isFinite(point.bytes));
        const kib = (bytes: number | undefined) => round((bytes ?? Number.NaN) / 1024, 6);
        return [
          name,
          {
            unit: 'KiB',
            start: kib(finite[0]?.bytes),
            end: kib(finite.at(-1)?.bytes),
            max: kib(Math.max(...finite.map((point) => point.bytes))),
            afterWarmupFirst: kib(warm[0]?.bytes),
            slopeAfterWarmup: { unit: 'KiB/min', value: round(slopeKiBPerMinute(warm), 4) },
            // Garbage collectors make RSS a sawtooth, which tilts a short run's slope either way; comparing
            // the peaks of the two halves after warm-up is steadier.
            peakGrowthAfterWarmup: { unit: 'KiB', value: kib(peakGrowth(warm)) },
            samples: finite.length,
            /** More than one when the process was replaced during the run (e.g. wrangler restarting workerd). */
            pids: [...(this.pidsSeen.get(name) ?? [])],
          },
        ];
      }),
    );
  }
}
