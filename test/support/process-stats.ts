/** What a running process costs, read from Linux /proc: resident memory and CPU time. NaN where unreadable. */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Resident set size of a process in bytes, or NaN when it cannot be read. */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const CLOCK_TICKS_PER_SECOND = (() => {
  const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
})();

/** CPU time (user + system, all threads) a process has used so far, in ms, or NaN. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the
    // 12th and 13th of them (fields 14 and 15 of proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/**
 * Time on a CPU of every thread of a process so far, in ms with nanosecond resolution (the first field of each
 * thread's /proc schedstat), or NaN: for spans of a few milliseconds, which the clock ticks of cpuMs cannot resolve.
 * Threads that ended before the call no longer count.
 */
export function onCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return ns / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** Samples the RSS of `pid` every `everyMs` until stopped; stop() returns the peak seen. */
export function sampleRss(pid: number | undefined, everyMs = 25): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    const now = rssBytes(pid);
    if (!(now <= peak)) peak = now;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const now = rssBytes(pid);
      if (now > peak) peak = now;
      return peak;
    },
  };
}

/**
 * The two parts of a process's resident set, in bytes (NaN where unreadable): `anon`, memory it allocated (V8
 * heap, malloc, thread stacks), and `file`, pages of mapped files read in, for Node mostly the node binary's own
 * code and read-only data. File pages are shared with every other process mapping the same file.
 */
export function rssPartsBytes(pid: number | undefined): { anon: number; file: number } {
  if (pid === undefined) return { anon: Number.NaN, file: Number.NaN };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kB = (field: string) => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return match ? Number(match[1]) * 1024 : Number.NaN;
    };
    return { anon: kB('RssAnon'), file: kB('RssFile') + kB('RssShmem') };
  } catch {
    return { anon: Number.NaN, file: Number.NaN };
  }
}
