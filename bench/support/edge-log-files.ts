/**
 * Files for the output of the edges a case times: an edge logs a line per push it takes, and through a pipe each
 * line would wake the bench's own process, on the same two cores, while it waits for the call being timed. In a
 * file the edge still pays for its write, as it does in production, where a log collector runs elsewhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EdgeLogFiles {
  /** A new file's path, one per edge. */
  next(): string;
  /** Removes the files (the edges stopped first). */
  remove(): void;
}

export function edgeLogFiles(label: string): EdgeLogFiles {
  const dir = mkdtempSync(join(tmpdir(), `keyward-bench-${label}-`));
  let count = 0;
  return {
    next: () => join(dir, `edge-${count++}.log`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
