/** Checks the audit log and the keyset chain; each check names the first broken link, or returns null. */
import { type AuditEntry, entryHash } from './audit-entry.ts';
import type { ChainLink } from './keyset-chain.ts';

export interface BrokenLink {
  /** Which log and where: `audit entry 4`, `keyset version 7`. */
  where: string;
  problem: string;
}

/**
 * The audit log as stored (`texts`, oldest first) against `head`, the hash of the last entry kept beside it:
 * an edited entry breaks the `prev` of the one after it (or `head`, for the last), a removed one the sequence.
 */
export function verifyAuditLog(texts: string[], head: string | null): BrokenLink | null {
  let previous: string | null = null;
  for (const [index, text] of texts.entries()) {
    const where = `audit entry ${index + 1}`;
    let entry: Partial<AuditEntry>;
    try {
      entry = JSON.parse(text) as Partial<AuditEntry>;
    } catch {
      return { where, problem: 'is not JSON' };
    }
    if (entry.seq !== index + 1) {
      return { where, problem: `has seq ${entry.seq}: an entry before it was removed or moved` };
    }
    const expected = previous === null ? null : entryHash(previous);
    if (entry.prev !== expected) {
      return {
        where,
        problem: `does not chain to entry ${index}: that entry was changed after it was written`,
      };
    }
    previous = text;
  }
  const last = previous === null ? null : entryHash(previous);
  if (last !== head) {
    return texts.length === 0 && head !== null
      ? {
          where: 'audit entry 1',
          problem: 'the log is empty but its head names an entry: entries were removed',
        }
      : {
          where: `audit entry ${texts.length}`,
          problem: 'is not the entry the head names: it was changed, or entries after it were removed',
        };
  }
  return null;
}

/**
 * The keyset chain (links in version order) against the stored keyset's own link: each link names the hash of
 * the one before it, and the newest link is the stored keyset.
 */
export function verifyKeysetChain(links: ChainLink[], current: ChainLink | null): BrokenLink | null {
  const sorted = [...links].sort((a, b) => a.version - b.version);
  for (const [index, link] of sorted.entries()) {
    const before = sorted[index - 1];
    if (before === undefined) continue;
    if (link.previous_hash !== before.hash) {
      return {
        where: `keyset version ${link.version}`,
        problem: `does not name the hash of version ${before.version} before it (a restore, or an edit)`,
      };
    }
  }
  const newest = sorted.at(-1);
  if (current !== null && newest !== undefined) {
    if (newest.version !== current.version || newest.hash !== current.hash) {
      return {
        where: `keyset version ${current.version}`,
        problem: `the stored keyset is not the newest link (version ${newest.version}) of the chain`,
      };
    }
  }
  return null;
}
