/** The scheduled rotation in Prometheus: whether a promotion is blocked, by how many edges, and what is due when. */
import { Gauge, type Registry } from 'prom-client';
import type { RotationStatus } from './rotation-status.ts';

const seconds = (iso: string | null) => (iso === null ? 0 : Date.parse(iso) / 1000);

/** Registers the rotation gauges on `registry`, each read from `status` at scrape time. */
export function registerRotationMetrics(
  registry: Registry,
  status: () => Promise<RotationStatus>,
  now: () => Date,
): void {
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
  new Gauge({
    name: 'keyward_rotation_standby_age_seconds',
    help: 'Seconds since the standby key was staged (0 without one)',
    registers: [registry],
    async collect() {
      const { staged_at } = await status();
      this.set(staged_at === null ? 0 : Math.max(0, now().getTime() / 1000 - seconds(staged_at)));
    },
  });
  new Gauge({
    name: 'keyward_rotation_next_due_timestamp_seconds',
    help: 'When the next key is due to become active, in Unix seconds (0 with ROTATION_INTERVAL=off)',
    registers: [registry],
    async collect() {
      this.set(seconds((await status()).due_at));
    },
  });
}
