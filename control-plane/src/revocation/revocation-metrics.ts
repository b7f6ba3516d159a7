/** The revocation list in Prometheus: its serial, how many revocations are live, and what each edge holds. */
import { Gauge, type Registry } from 'prom-client';
import type { RevocationLog } from './revocation-log.ts';
import type { RevocationPusher } from './revocation-pusher.ts';

/** Registers the revocation gauges on `registry`, read at scrape time (a failed storage read reports nothing). */
export function registerRevocationMetrics(
  registry: Registry,
  log: RevocationLog,
  pusher: RevocationPusher,
): void {
  const current = () => log.current().catch(() => undefined);
  new Gauge({
    name: 'keyward_revocation_serial',
    help: 'Serial of the revocation list (one more per RevokeTokens call)',
    registers: [registry],
    async collect() {
      const state = await current();
      if (state !== undefined) this.set(state.list.serial);
    },
  });
  new Gauge({
    name: 'keyward_revocations_live',
    help: 'Revoked jtis plus revoked subjects that have not yet expired (REVOCATION_TTL)',
    registers: [registry],
    async collect() {
      const state = await current();
      if (state !== undefined) this.set(state.live);
    },
  });
  new Gauge({
    name: 'keyward_edge_revocation_serial',
    help: 'Revocation serial each EDGE_URLS target last said it holds',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [target, serial] of pusher.held) this.set({ target }, serial);
    },
  });
}
