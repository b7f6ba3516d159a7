/** Prometheus metrics (prom-client). Labels never carry a token or secret: only RPC names, outcomes, edge URLs. */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { findActiveKey, type Keyset } from '../../shared/keyset.ts';
import type { EdgeTargetState } from './push/edge-pusher.ts';
import type { Readiness } from './readiness.ts';

export interface ControlPlaneMetrics {
  registry: Registry;
  adminCalls: Counter<'rpc' | 'outcome'>;
  rotations: Counter<'kind'>;
  pushAttempts: Counter<'target'>;
  pushFailures: Counter<'target'>;
  edgeConfirmedVersion: Gauge<'target'>;
  observeKeyset(keyset: Keyset): void;
  /** Reports each edge's clock offset and last confirmation from `targets` (the pusher's state) at each scrape. */
  observeEdges(targets: () => readonly EdgeTargetState[]): void;
  /** Reports whether storage answers from `last` (the readiness /readyz last found) at each scrape. */
  observeStorage(last: () => Readiness | null): void;
}

export function createMetrics(now: () => number = Date.now): ControlPlaneMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyward_' });
  let activeCreatedAt = Number.NaN;
  const keysetVersion = new Gauge({
    name: 'keyward_keyset_version',
    help: 'Version of the keyset held',
    registers: [registry],
  });
  new Gauge({
    name: 'keyward_seconds_since_last_rotation',
    help: 'Age of the active secret in seconds',
    registers: [registry],
    collect() {
      if (!Number.isNaN(activeCreatedAt)) this.set((now() - activeCreatedAt) / 1000);
    },
  });
  let edgeTargets: () => readonly EdgeTargetState[] = () => [];
  // An edge whose value is unknown has no series: absent, not 0.
  new Gauge({
    name: 'keyward_edge_clock_offset_seconds',
    help: "Each edge's clock minus the control plane's, measured on its last answer to a push",
    labelNames: ['target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const edge of edgeTargets()) {
        if (edge.clockOffsetMs !== null) this.set({ target: edge.url }, edge.clockOffsetMs / 1000);
      }
    },
  });
  new Gauge({
    name: 'keyward_edge_last_confirmed_timestamp_seconds',
    help: 'When each edge last confirmed holding the pushed keyset, Unix time',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const edge of edgeTargets()) {
        if (edge.lastSuccessAt !== null) this.set({ target: edge.url }, edge.lastSuccessAt.getTime() / 1000);
      }
    },
  });
  new Gauge({
    name: 'keyward_edge_reported_version',
    help: 'The keyset version each edge named in its last answer to a push, even one above the keyset held',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const edge of edgeTargets()) {
        if (edge.reportedVersion > 0) this.set({ target: edge.url }, edge.reportedVersion);
      }
    },
  });
  let lastReadiness: () => Readiness | null = () => null;
  // Absent until the first readiness check: unknown, not down.
  new Gauge({
    name: 'keyward_storage_up',
    help: 'Whether storage answered within KEYSET_CACHE_TTL at the last readiness check (1) or not (0)',
    registers: [registry],
    collect() {
      this.reset();
      const readiness = lastReadiness();
      if (readiness !== null) this.set(readiness.reasons.includes('storage_unreachable') ? 0 : 1);
    },
  });
  return {
    registry,
    adminCalls: new Counter({
      name: 'keyward_admin_calls_total',
      help: 'Admin RPC calls by outcome',
      labelNames: ['rpc', 'outcome'],
      registers: [registry],
    }),
    rotations: new Counter({
      name: 'keyward_rotations_total',
      help: 'Successful keyset changes by kind (manual, emergency, scheduled rotations; stage, promote, revoke; scheduled_stage, scheduled_promote)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    pushAttempts: new Counter({
      name: 'keyward_push_attempts_total',
      help: 'Keyset pushes attempted per edge',
      labelNames: ['target'],
      registers: [registry],
    }),
    pushFailures: new Counter({
      name: 'keyward_push_failures_total',
      help: 'Keyset pushes failed per edge',
      labelNames: ['target'],
      registers: [registry],
    }),
    edgeConfirmedVersion: new Gauge({
      name: 'keyward_edge_confirmed_version',
      help: 'Last keyset version each edge confirmed',
      labelNames: ['target'],
      registers: [registry],
    }),
    observeKeyset(keyset) {
      keysetVersion.set(keyset.version);
      const active = findActiveKey(keyset);
      if (active) activeCreatedAt = Date.parse(active.created_at);
    },
    observeEdges(targets) {
      edgeTargets = targets;
    },
    observeStorage(last) {
      lastReadiness = last;
    },
  };
}
