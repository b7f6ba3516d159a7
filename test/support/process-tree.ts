/** A process's descendants from /proc (Linux): wrangler dev runs workerd beneath it, and that is the edge. */
import { readdirSync, readFileSync } from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    // The command name (field 2) is in parentheses and may hold spaces; the parent pid follows it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every live descendant of `pid`, children before grandchildren. */
export function descendantsOf(pid: number): number[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const candidate of pids) {
    const parent = parentOf(candidate);
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), candidate]);
  }
  const found: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    found.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return found;
}

/** The first descendant of `pid` whose command line (argv) passes `test`. */
export function descendantWhere(pid: number, test: (argv: string[]) => boolean): number | undefined {
  return descendantsOf(pid).find((candidate) => {
    try {
      return test(readFileSync(`/proc/${candidate}/cmdline`, 'utf8').split('\0'));
    } catch {
      return false;
    }
  });
}
