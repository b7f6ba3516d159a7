/**
 * What the operator dashboard shows, as one JSON snapshot: the keys (kid, algorithm, status, dates; never `k` or
 * `d`), the latest audit log entries, every EDGE_URLS target as the pusher knows it, and the schedule. Built from
 * an allow-list of fields, so key material added to a keyset entry later cannot reach the page.
 */
import type { Keyset } from '../../../shared/keyset.ts';
import type { AuditEntry } from '../audit/audit-entry.ts';
import type { EdgeTargetState } from '../push/edge-pusher.ts';
import type { RotationStatus } from '../rotation/rotation-status.ts';

/** Audit entries the page shows at most (the newest). */
export const DASHBOARD_AUDIT_ENTRIES = 50;

export interface DashboardKey {
  kid: string;
  alg: string;
  status: string;
  version: number;
  created_at: string;
  expires_at: string | null;
}

export interface DashboardEdge {
  url: string;
  confirmed_version: number;
  /** Keyset versions the edge is behind this process's keyset (0: up to date). */
  versions_behind: number;
  last_success_at: string | null;
  last_error: string | null;
  clock_offset_ms: number | null;
  rtt_ms: number | null;
  kids: string[] | null;
}

export type DashboardAuditEntry = Pick<AuditEntry, 'seq' | 'at' | 'action' | 'actor' | 'version' | 'kid'>;

export interface DashboardState {
  /** This process's clock when the snapshot was taken: ages on the page are measured from it. */
  now: string;
  storage: 'env' | 'valkey';
  keyset_version: number;
  issued_at: string;
  /** Storage has not answered for longer than KEYSET_CACHE_TTL: the keys shown may be out of date. */
  stale: boolean;
  keys: DashboardKey[];
  edges: DashboardEdge[];
  rotation: RotationStatus;
  /** Newest last; null when the storage keeps no audit log or could not be read just now. */
  audit: DashboardAuditEntry[] | null;
}

export interface DashboardSources {
  keyset(): Promise<{ keyset: Keyset }>;
  staleBeyondTtl(): boolean;
  storageKind: 'env' | 'valkey';
  edges(): EdgeTargetState[];
  rotation(): Promise<RotationStatus>;
  auditTail?(count: number): Promise<string[]>;
  now(): Date;
}

export async function dashboardState(sources: DashboardSources): Promise<DashboardState> {
  const [{ keyset }, rotation, audit] = await Promise.all([
    sources.keyset(),
    sources.rotation(),
    auditEntries(sources),
  ]);
  return {
    now: sources.now().toISOString(),
    storage: sources.storageKind,
    keyset_version: keyset.version,
    issued_at: keyset.issued_at,
    stale: sources.staleBeyondTtl(),
    keys: keyset.keys.map(({ kid, alg, status, version, created_at, expires_at }) => ({
      kid,
      alg,
      status,
      version,
      created_at,
      expires_at,
    })),
    edges: sources.edges().map((edge) => ({
      url: edge.url,
      confirmed_version: edge.confirmedVersion,
      versions_behind: Math.max(0, keyset.version - edge.confirmedVersion),
      last_success_at: edge.lastSuccessAt?.toISOString() ?? null,
      last_error: edge.lastError || null,
      clock_offset_ms: edge.clockOffsetMs,
      rtt_ms: edge.rttMs,
      kids: edge.kids === null ? null : [...edge.kids],
    })),
    rotation,
    audit,
  };
}

/** The newest entries, each reduced to its shown fields; an entry that is not JSON is left out. */
async function auditEntries(sources: DashboardSources): Promise<DashboardAuditEntry[] | null> {
  if (sources.auditTail === undefined) return null;
  let texts: string[];
  try {
    texts = await sources.auditTail(DASHBOARD_AUDIT_ENTRIES);
  } catch {
    return null;
  }
  const entries: DashboardAuditEntry[] = [];
  for (const text of texts) {
    try {
      const { seq, at, action, actor, version, kid } = JSON.parse(text) as AuditEntry;
      entries.push({ seq, at, action, actor, version, kid });
    } catch {
      // A damaged entry is `npx keyward audit`'s to report; the page shows the others.
    }
  }
  return entries;
}
