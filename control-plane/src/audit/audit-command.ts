/**
 * `npx keyward audit`: reads the keyset chain and the audit log straight from Valkey (VALKEY_URL, read only) and
 * checks both. The report names the first broken link of each; it prints no secret.
 */
import { Valkey } from 'iovalkey';
import { parseKeyset } from '../../../shared/keyset-envelope.ts';
import { VALKEY_KEYS } from '../storage/valkey-storage.ts';
import { type ChainLink, chainLink } from './keyset-chain.ts';
import { type BrokenLink, verifyAuditLog, verifyKeysetChain } from './verify-audit.ts';

export interface AuditReport {
  ok: boolean;
  keysetVersions: number;
  auditEntries: number;
  keysetChain: BrokenLink | null;
  auditLog: BrokenLink | null;
}

/** Reads and checks both chains in the Valkey at `url`. */
export async function auditValkey(url: string): Promise<AuditReport> {
  const client = new Valkey(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const [entries, head, links, state] = await Promise.all([
      client.lrange(VALKEY_KEYS.audit, 0, -1),
      client.get(VALKEY_KEYS.auditHead),
      client.hvals(VALKEY_KEYS.chain),
      client.get(VALKEY_KEYS.state),
    ]);
    const parsed: ChainLink[] = [];
    let keysetChain: BrokenLink | null = null;
    for (const text of links) {
      try {
        parsed.push(JSON.parse(text) as ChainLink);
      } catch {
        keysetChain ??= { where: VALKEY_KEYS.chain, problem: 'holds a link that is not JSON' };
      }
    }
    // The control plane's own copy: key pairs keep their private key there, and its links hash that copy.
    const current =
      state === null ? null : await chainLink(parseKeyset(JSON.parse(state), { private: true }));
    keysetChain ??= verifyKeysetChain(parsed, current);
    const auditLog = verifyAuditLog(entries, head);
    return {
      ok: keysetChain === null && auditLog === null,
      keysetVersions: parsed.length,
      auditEntries: entries.length,
      keysetChain,
      auditLog,
    };
  } finally {
    client.disconnect();
  }
}

/** The report as the CLI prints it. */
export function describeAudit(report: AuditReport): string {
  const line = (name: string, count: string, broken: BrokenLink | null) =>
    broken === null ? `${name}: ok (${count})` : `${name}: BROKEN at ${broken.where}: ${broken.problem}`;
  return [
    line('keyset chain', `${report.keysetVersions} versions`, report.keysetChain),
    line('audit log', `${report.auditEntries} entries`, report.auditLog),
  ].join('\n');
}
