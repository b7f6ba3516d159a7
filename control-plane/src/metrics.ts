/**
 * Prometheus metrics (prom-client). Labels never carry a token or secret: only RPC names, outcomes, edge URLs.
 * Names follow Prometheus conventions: units in the name (`_seconds`, `_bytes`), `_total` on counters, points in
 * time as `_timestamp_seconds` (Unix time, so an alert computes `time() - x`), the process metrics unprefixed.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { currentRuntime, KEYWARD_VERSION } from '../../shared/build-info.ts';
import { findActiveKey, type Keyset } from '../../shared/keyset.ts';
import type { EdgeTargetState } from './push/edge-pusher.ts';
import type { Readiness } from './readiness.ts';

export interface ControlPlaneMetrics {
  registry: Registry;
  adminCalls: Counter<'rpc' | 'outcome'>;
  rotations: Counter<'kind'>;
  pushAttempts: Counter<'target'>;
  pushFailures: Counter<'target'>;
  /** Seconds per admin RPC, from the request to the answer (a keyset change's includes the push to the edges). */
  adminCallDuration: Histogram<'rpc'>;
  /** Seconds per PUT /keyset to one edge, by outcome (`ok`, `failed`); no per-edge label (see README). */
  pushAttemptDuration: Histogram<'outcome'>;
  /** Seconds from pushing a newly held keyset version until every edge confirmed it or ran out of retries. */
  pushRoundDuration: Histogram<'outcome'>;
  edgeConfirmedVersion: Gauge<'target'>;
  observeKeyset(keyset: Keyset): void;
  /** Reports each edge's clock offset and last confirmation from `targets` (the pusher's state) at each scrape. */
  observeEdges(targets: () => readonly EdgeTargetState[]): void;
  /** Reports whether storage answers from `last` (the readiness /readyz last found) at each scrape. */
  observeStorage(last: () => Readiness | null): void;
}

/**
 * A gauge whose series is left out while its value is NaN. prom-client shows an unlabelled gauge as 0 until it is
 * set, and after `reset()`; a point in time that does not exist (yet) must have no series instead, or
 * `time() - x` measures from 1970.
 */
export class OptionalGauge<T extends string = string> extends Gauge<T> {
  override async get() {
    const metric = await super.get();
    return { ...metric, values: metric.values.filter((sample) => !Number.isNaN(sample.value)) };
  }
}

/** Latency buckets in seconds, 1 ms to 10 s: a loopback call takes milliseconds, a push times out at 2 s a try. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(): ControlPlaneMetrics {
  const registry = new Registry();
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*: the names every Node dashboard expects.
  collectDefaultMetrics({ register: registry });
  const runtime = currentRuntime();
  new Gauge({
    name: 'keyward_build_info',
    help: 'Always 1; the labels name the Keyward version and the runtime this process runs on',
    labelNames: ['component', 'version', 'runtime', 'runtime_version'],
    registers: [registry],
  }).set(
    {
      component: 'control-plane',
      version: KEYWARD_VERSION,
      runtime: runtime.runtime,
      runtime_version: runtime.runtimeVersion,
    },
    1,
  );
  const keysetVersion = new Gauge({
    name: 'keyward_keyset_version',
    help: 'Version of the keyset held',
    registers: [registry],
  });
  // Absent until a keyset is held.
  const activeKeyCreated = new OptionalGauge({
    name: 'keyward_active_key_created_timestamp_seconds',
    help: 'When the active key was created (for a key promoted from standby: staged), Unix time',
    registers: [registry],
  });
  activeKeyCreated.set(Number.NaN);
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
  new OptionalGauge({
    name: 'keyward_storage_up',
    help: 'Whether storage answered within KEYSET_CACHE_TTL at the last readiness check (1) or not (0)',
    registers: [registry],
    collect() {
      const readiness = lastReadiness();
      this.set(readiness === null ? Number.NaN : readiness.reasons.includes('storage_unreachable') ? 0 : 1);
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
      help: 'Successful keyset changes by kind (manual, emergency, scheduled rotations; stage, promote, promote_emergency, revoke; scheduled_stage, scheduled_promote)',
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
    adminCallDuration: new Histogram({
      name: 'keyward_admin_call_duration_seconds',
      help: 'Admin RPC latency, from the request to the answer; RotateSecret, StageKey, PromoteKey and RevokeKey include the push to the edges',
      labelNames: ['rpc'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    pushAttemptDuration: new Histogram({
      name: 'keyward_push_attempt_duration_seconds',
      help: 'Latency of one keyset push (PUT /keyset) to one edge, by outcome (ok, failed)',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    pushRoundDuration: new Histogram({
      name: 'keyward_push_round_duration_seconds',
      help: 'Time from pushing a newly held keyset version to every edge until each confirmed (all_confirmed) or ran out of the retries the round waits for (not_all_confirmed)',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
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
      if (active) activeKeyCreated.set(Date.parse(active.created_at) / 1000);
    },
    observeEdges(targets) {
      edgeTargets = targets;
    },
    observeStorage(last) {
      lastReadiness = last;
    },
  };
}
