/**
 * Local development storage: the keyset starts from JWT_SECRET / JWT_PREVIOUS_SECRETS and rotations live in
 * this process's memory only. A restart goes back to the environment's secrets.
 */
import { type AuditAction, nextAuditEntry } from '../audit/audit-entry.ts';
import { type ChainLink, chainLink } from '../audit/keyset-chain.ts';
import type { KeysetStorage, StoredKeyset } from './keyset-storage.ts';

export class EnvStorage implements KeysetStorage {
  readonly kind = 'env';
  #current: StoredKeyset | null = null;
  /** The audit log's entries as text, oldest first, and the keyset chain: in memory, like the keyset. */
  readonly auditLog: string[] = [];
  readonly chain: ChainLink[] = [];
  readonly #active: string | undefined;
  readonly #previous: string[];

  constructor(active: string | undefined, previous: string[] = []) {
    this.#active = active;
    this.#previous = previous;
  }

  async load(): Promise<StoredKeyset | null> {
    return this.#current;
  }

  async loadLegacySecrets(): Promise<{ active: string; previous: string[] } | null> {
    return this.#active === undefined ? null : { active: this.#active, previous: this.#previous };
  }

  async compareAndSwap(expectedVersion: number, next: StoredKeyset, action?: AuditAction): Promise<boolean> {
    const link = await chainLink(next.keyset);
    if ((this.#current?.keyset.version ?? 0) !== expectedVersion) return false;
    this.#current = next;
    this.chain.push(link);
    if (action !== undefined) {
      const tail = this.auditLog.at(-1) ?? null;
      this.auditLog.push(nextAuditEntry(tail, action, next.keyset.version, new Date()).text);
    }
    return true;
  }

  async watch(): Promise<() => Promise<void>> {
    // One process, nobody else writes.
    return async () => {};
  }

  async tryLock(): Promise<boolean> {
    return true;
  }

  describeMissingKeyset(): string {
    return 'the in-memory keyset could not be written; restart the control plane';
  }

  async close(): Promise<void> {}
}
