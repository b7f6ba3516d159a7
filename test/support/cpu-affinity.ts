/**
 * CPU pinning with taskset (util-linux), so that a load generator and the servers it loads do not compete for
 * the same cores. Children inherit the affinity of the process that spawns them.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

export interface CpuSplit {
  /** Cores for the servers, as a taskset list, e.g. `0` or `0-2`. */
  servers: string;
  /** The core for the load generator, e.g. `1`. */
  loader: string;
}

/** The last core for the load generator, the others for the servers; undefined without taskset or 2 cores. */
export function cpuSplit(): CpuSplit | undefined {
  const cores = availableParallelism();
  if (cores < 2 || spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const last = cores - 1;
  return { servers: last === 1 ? '0' : `0-${last - 1}`, loader: String(last) };
}

/** Pins every thread of `pid` to `cpus` (a taskset list); false when taskset refused. */
export function pinProcess(pid: number, cpus: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
}
