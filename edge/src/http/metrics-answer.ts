/**
 * The edge's own counters and their Prometheus text exposition (GET /metrics), with Web APIs only: the same
 * code runs on workerd, Node, Bun and Deno. The counts are this process's (on Workers, this isolate's) since it
 * started. Label values come from fixed sets (outcome codes, source names) or the runtime, never from a request.
 * Names follow the control plane's conventions: `_total` on counters, points in time as `_timestamp_seconds`
 * (Unix time, so an alert computes `time() - x`), and the same `keyward_build_info`.
 */
import { currentRuntime, KEYWARD_VERSION } from '../../../shared/build-info.ts';
import type { RevocationSet } from '../../../shared/revocations.ts';
import type { KeysetStore } from '../keyset/keyset-store.ts';
import type { PullOutcome } from '../keyset/keyset-sync.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class EdgeMetrics {
  /** `keyward_build_info`'s sample: fixed for the life of the process. */
  readonly #buildInfo: string;
  // Plain objects keyed by a code from a fixed set: counting a verify is one property increment.
  readonly #verify: Record<string, number> = Object.create(null);
  readonly #pulls: Record<string, Record<string, number>> = Object.create(null);
  readonly #pushes: Record<string, number> = Object.create(null);
  readonly #revocationPulls: Record<string, Record<string, number>> = Object.create(null);
  readonly #revocationPushes: Record<string, number> = Object.create(null);

  constructor() {
    const { runtime, runtimeVersion } = currentRuntime();
    const labels = { component: 'edge', version: KEYWARD_VERSION, runtime, runtime_version: runtimeVersion };
    this.#buildInfo = `keyward_build_info{${Object.entries(labels)
      .map(([name, value]) => `${name}="${labelValue(value)}"`)
      .join(',')}} 1`;
  }

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

  /** The exposition text; the keyset gauges are read from `store`, the revocation ones from `revocations`. */
  exposition(store: KeysetStore, revocations: RevocationSet): string {
    const lines: string[] = [];
    family(
      lines,
      'keyward_build_info',
      'gauge',
      'Always 1; the labels name the Keyward version and the runtime this process runs on.',
    );
    lines.push(this.#buildInfo);
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
    // Absent while nothing is held, and the confirmation until an origin has confirmed the held keyset (a
    // push-only edge never has one to ask).
    family(
      lines,
      'keyward_edge_keyset_taken_timestamp_seconds',
      'gauge',
      'When the held keyset was taken, Unix time.',
    );
    if (store.ring !== undefined) {
      lines.push(`keyward_edge_keyset_taken_timestamp_seconds ${seconds(store.takenAt)}`);
    }
    family(
      lines,
      'keyward_edge_keyset_confirmed_timestamp_seconds',
      'gauge',
      'When an origin last confirmed that nothing newer than the held keyset exists, Unix time.',
    );
    if (store.ring !== undefined && store.confirmedAt > 0) {
      lines.push(`keyward_edge_keyset_confirmed_timestamp_seconds ${seconds(store.confirmedAt)}`);
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

/** Epoch ms as Unix seconds, to the millisecond. */
function seconds(epochMs: number): string {
  return String(epochMs / 1000);
}

/** A label value escaped as the text format wants: backslash, double quote and line feed. */
function labelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (char) => (char === '\n' ? '\\n' : `\\${char}`));
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
