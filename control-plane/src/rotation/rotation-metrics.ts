/** The scheduled rotation in Prometheus: whether a promotion is blocked, by how many edges, and what is due when. */
import { Gauge, type Registry } from 'prom-client';
import { OptionalGauge } from '../metrics.ts';
import type { RotationStatus } from './rotation-status.ts';

/**
 * Registers the rotation gauges on `registry`, each read from `status` at scrape time. A point in time that does
 * not exist (no standby key; ROTATION_INTERVAL=off) has no series rather than a 0, so `time() - x` never
 * compares with 1970.
 */
export function registerRotationMetrics(registry: Registry, status: () => Promise<RotationStatus>): void {
  new Gauge({
    name: 'keyward_rotation_promotion_blocked',
    help: 'Whether the scheduled promotion of the standby key is due and blocked by edges that have not confirmed it (1) or not (0)',
    registers: [registry],
    async collect() {
      this.set((await status()).phase === 'blocked' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'keyward_rotation_unconfirmed_edges',
    help: 'EDGE_URLS targets that have not confirmed a keyset holding the standby key (0 without one)',
    registers: [registry],
    async collect() {
      this.set((await status()).unconfirmed_edges);
    },
  });
  timestampGauge(
    registry,
    'keyward_rotation_standby_staged_timestamp_seconds',
    'When the standby key was staged, Unix time (absent without one)',
    async () => (await status()).staged_at,
  );
  timestampGauge(
    registry,
    'keyward_rotation_next_due_timestamp_seconds',
    'When the next key is due to become active, Unix time (absent with ROTATION_INTERVAL=off)',
    async () => (await status()).due_at,
  );
}

function timestampGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => Promise<string | null>,
): void {
  new OptionalGauge({
    name,
    help,
    registers: [registry],
    async collect() {
      const iso = await read();
      this.set(iso === null ? Number.NaN : Date.parse(iso) / 1000);
    },
  });
}
