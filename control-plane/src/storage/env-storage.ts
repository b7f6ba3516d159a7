/**
 * Local development storage: the keyset starts from JWT_SECRET / JWT_PREVIOUS_SECRETS and rotations live in
 * this process's memory only. A restart goes back to the environment's secrets. The keyset is held as written,
 * private keys of key pairs included (as jwt_secrets:state holds them); nothing here leaves the process.
 */
import { findActiveKey, legacyActiveSecret, signingJwk } from '../../../shared/keyset.ts';
import { type AuditAction, nextAuditEntry } from '../audit/audit-entry.ts';
import { type ChainLink, chainLink } from '../audit/keyset-chain.ts';
import type {
  KeysetStorage,
  RevocationDocument,
  StorageFacts,
  StoredKeyset,
  StoredRevocations,
} from './keyset-storage.ts';

export class EnvStorage implements KeysetStorage {
  readonly kind = 'env';
  #current: StoredKeyset | null = null;
  /** The revocation list as Valkey holds it: the serial, the snapshot and the deltas above it, oldest first. */
  #revocationSerial = 0;
  #revocationSnapshot: string | null = null;
  #revocationDeltas: RevocationDocument[] = [];
  /** Registered edge URL -> when its registration expires (epoch ms). */
  readonly #edges = new Map<string, number>();
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
    // As in Valkey: a keyset whose active key pair has lost its private key is refused (keyset_invalid).
    signingJwk(next.keyset);
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

  async loadRevocations(since: number): Promise<StoredRevocations> {
    const serial = this.#revocationSerial;
    if (since > 0 && since === serial) return { serial, snapshot: null, deltas: [] };
    const full = since === 0 || since > serial;
    return {
      serial,
      snapshot: full ? this.#revocationSnapshot : null,
      deltas: this.#revocationDeltas.filter((delta) => full || delta.serial > since).map((d) => d.document),
    };
  }

  async appendRevocations(
    expectedSerial: number,
    delta: RevocationDocument,
    action?: AuditAction,
  ): Promise<boolean> {
    if (this.#revocationSerial !== expectedSerial) return false;
    this.#revocationDeltas.push(delta);
    this.#revocationSerial = delta.serial;
    if (action !== undefined) {
      const tail = this.auditLog.at(-1) ?? null;
      this.auditLog.push(nextAuditEntry(tail, action, delta.serial, new Date()).text);
    }
    return true;
  }

  async compactRevocations(snapshot: RevocationDocument): Promise<boolean> {
    if (!this.#revocationDeltas.some((delta) => delta.serial === snapshot.serial)) return false;
    this.#revocationSnapshot = snapshot.document;
    this.#revocationDeltas = this.#revocationDeltas.filter((delta) => delta.serial > snapshot.serial);
    return true;
  }

  async registerEdge(url: string, expiresAt: number): Promise<void> {
    this.#edges.set(url, expiresAt);
  }

  async registeredEdges(now: number, limit: number): Promise<string[]> {
    for (const [url, expiresAt] of this.#edges) if (expiresAt <= now) this.#edges.delete(url);
    return [...this.#edges.keys()].slice(0, limit);
  }

  /** The facts Valkey would hold beside this keyset: in one process they always agree with it. */
  async inspect(): Promise<StorageFacts> {
    const keyset = this.#current?.keyset;
    if (keyset === undefined) {
      return { guardVersion: 0, activeSecret: null, signingKid: null, highestSecretVersion: 0 };
    }
    return {
      guardVersion: keyset.version,
      activeSecret: legacyActiveSecret(keyset),
      signingKid: findActiveKey(keyset)?.kid ?? null,
      highestSecretVersion: Math.max(0, ...keyset.keys.map((key) => key.version)),
    };
  }

  async auditTail(count: number): Promise<string[]> {
    return count > 0 ? this.auditLog.slice(-count) : [];
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
