/**
 * The edge's own counters and their Prometheus text exposition (GET /metrics), with Web APIs only: the same
 * code runs on workerd, Node, Bun and Deno. The counts are this process's (on Workers, this isolate's) since it
 * started. Label values come from fixed sets (outcome codes, source names), never from a request.
 */
import type { RevocationSet } from '../../../shared/revocations.ts';
import type { KeysetStore } from '../keyset/keyset-store.ts';
import type { PullOutcome } from '../keyset/keyset-sync.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class EdgeMetrics {
  // Plain objects keyed by a code from a fixed set: counting a verify is one property increment.
  readonly #verify: Record<string, number> = Object.create(null);
  readonly #pulls: Record<string, Record<string, number>> = Object.create(null);
  readonly #pushes: Record<string, number> = Object.create(null);
  readonly #revocationPulls: Record<string, Record<string, number>> = Object.create(null);
  readonly #revocationPushes: Record<string, number> = Object.create(null);

  /** One /verify answered with `outcome`: "valid" or the error code the client saw. */
  verified(outcome: string): void {
    this.#verify[outcome] = (this.#verify[outcome] ?? 0) + 1;
  }

  /** One source's answer to a pull. */
  pulled(source: string, outcome: PullOutcome): void {
    countBySource(this.#pulls, source, outcome);
  }

  /** One source's answer to a revocation list pull. */
  revocationsPulled(source: string, outcome: PullOutcome): void {
    countBySource(this.#revocationPulls, source, outcome);
  }

  /** One PUT /revocations: "taken", "held" or the error code answered. */
  revocationsPushed(outcome: string): void {
    this.#revocationPushes[outcome] = (this.#revocationPushes[outcome] ?? 0) + 1;
  }

  /** One PUT /keyset: "taken", "held" or the error code answered. */
  pushed(outcome: string): void {
    this.#pushes[outcome] = (this.#pushes[outcome] ?? 0) + 1;
  }

  /** The exposition text; the keyset gauges are read from `store` at `now` (epoch ms), the revocation ones from `revocations`. */
  exposition(store: KeysetStore, now: number, revocations: RevocationSet): string {
    const lines: string[] = [];
    family(
      lines,
      'keyward_edge_verify_total',
      'counter',
      '/verify answers by outcome ("valid" or the error code).',
    );
    for (const [outcome, value] of sorted(this.#verify)) {
      lines.push(`keyward_edge_verify_total{outcome="${outcome}"} ${value}`);
    }
    family(lines, 'keyward_edge_keyset_version', 'gauge', 'Version of the held keyset; 0 when none is held.');
    lines.push(`keyward_edge_keyset_version ${store.version}`);
    family(lines, 'keyward_edge_keyset_age_seconds', 'gauge', 'Seconds since the held keyset was taken.');
    if (store.ring !== undefined) {
      lines.push(`keyward_edge_keyset_age_seconds ${Math.max(0, Math.floor((now - store.takenAt) / 1000))}`);
    }
    family(
      lines,
      'keyward_edge_pulls_total',
      'counter',
      "Sources' answers to keyset pulls, by source and outcome.",
    );
    for (const [source, outcomes] of sorted(this.#pulls)) {
      for (const [outcome, value] of sorted(outcomes)) {
        lines.push(`keyward_edge_pulls_total{source="${source}",outcome="${outcome}"} ${value}`);
      }
    }
    family(lines, 'keyward_edge_pushes_total', 'counter', 'PUT /keyset answers by outcome.');
    for (const [outcome, value] of sorted(this.#pushes)) {
      lines.push(`keyward_edge_pushes_total{outcome="${outcome}"} ${value}`);
    }
    family(
      lines,
      'keyward_edge_revocation_serial',
      'gauge',
      'Serial of the newest revocation batch held; 0 when none was ever taken.',
    );
    lines.push(`keyward_edge_revocation_serial ${revocations.serial}`);
    family(lines, 'keyward_edge_revocations', 'gauge', 'Live revocations held: revoked jtis plus subjects.');
    lines.push(`keyward_edge_revocations ${revocations.size}`);
    family(
      lines,
      'keyward_edge_revocation_pulls_total',
      'counter',
      "Sources' answers to revocation list pulls, by source and outcome.",
    );
    for (const [source, outcomes] of sorted(this.#revocationPulls)) {
      for (const [outcome, value] of sorted(outcomes)) {
        lines.push(`keyward_edge_revocation_pulls_total{source="${source}",outcome="${outcome}"} ${value}`);
      }
    }
    family(lines, 'keyward_edge_revocation_pushes_total', 'counter', 'PUT /revocations answers by outcome.');
    for (const [outcome, value] of sorted(this.#revocationPushes)) {
      lines.push(`keyward_edge_revocation_pushes_total{outcome="${outcome}"} ${value}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function countBySource(
  counts: Record<string, Record<string, number>>,
  source: string,
  outcome: string,
): void {
  let bySource = counts[source];
  if (bySource === undefined) {
    bySource = Object.create(null) as Record<string, number>;
    counts[source] = bySource;
  }
  bySource[outcome] = (bySource[outcome] ?? 0) + 1;
}

function family(lines: string[], name: string, type: 'counter' | 'gauge', help: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function sorted<V>(record: Record<string, V>): [string, V][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * One access-log line: JSON with method, path (never the query string, which could carry a token), status,
 * outcome (the /verify verdict, or the error code of another answer) and duration in ms. Never the token, never
 * a header.
 */
export function accessLine(
  method: string,
  path: string,
  status: number,
  outcome: string | undefined,
  durationMs: number,
): string {
  return JSON.stringify({
    access: true,
    method,
    path,
    status,
    outcome: outcome ?? null,
    duration_ms: Math.round(durationMs * 1000) / 1000,
  });
}
