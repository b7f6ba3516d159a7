/**
 * A real Prometheus scraping a real control plane's GET /metrics with the shipped alerting rules loaded: the
 * keyward metrics arrive under their documented names, every rule evaluates without error, and with Valkey
 * killed KeywardStorageUnreachable goes pending on the scraped keyward_storage_up, then inactive once Valkey is
 * back. Skipped only outside CI when prometheus is absent.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/bounded-waits.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import {
  ALERT_RULES,
  type Prometheus,
  prometheusMissing,
  startPrometheus,
} from '../../test/support/prometheus.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';

const WAIT_MS = 45_000;
const ALERTS = [
  'KeywardEdgeLagging',
  'KeywardPushFailures',
  'KeywardRotationOverdue',
  'KeywardPromotionBlocked',
  'KeywardStorageUnreachable',
  'KeywardEdgeAheadOfControlPlane',
];

interface Rule {
  name: string;
  state: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
}
interface Alert {
  labels: Record<string, string>;
  state: string;
}

const missing = prometheusMissing();
if (missing) console.warn(`prometheus-scrape: skipped, ${missing}`);

describe.skipIf(missing !== null)('Prometheus scraping the control plane', () => {
  let valkey: ValkeyServer;
  let harness: Harness;
  let prometheus: Prometheus;
  let instance: string;

  beforeAll(async () => {
    valkey = await startValkey();
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey: KEYSET_KEY,
      env: { KEYSET_CACHE_TTL: '1s' },
    });
    instance = `127.0.0.1:${harness.controlPlane.httpPort}`;
    prometheus = await startPrometheus({ targets: [instance], ruleFiles: [ALERT_RULES] });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await harness?.stop();
    await valkey?.stop();
  });

  /** The value Prometheus holds now for `expr` on this control plane, or null while it has none. */
  async function scraped(expr: string): Promise<number | null> {
    const result = await prometheus.query(expr).catch(() => []);
    const sample = result.find((series) => series.metric.instance === instance);
    return sample ? Number(sample.value[1]) : null;
  }

  async function rules(): Promise<Rule[]> {
    const data = await prometheus.api<{ groups: Array<{ name: string; rules: Rule[] }> }>('rules');
    return data.groups.filter((group) => group.name === 'keyward').flatMap((group) => group.rules);
  }

  async function storageAlert(): Promise<Alert | null> {
    const { alerts } = await prometheus.api<{ alerts: Alert[] }>('alerts');
    return alerts.find((alert) => alert.labels.alertname === 'KeywardStorageUnreachable') ?? null;
  }

  it('scrapes the keyward metrics and follows a rotation', async () => {
    const before = (await harness.getKeyset()).version;
    await eventually(
      () => scraped('keyward_keyset_version'),
      (value) => value === before,
      WAIT_MS,
      200,
    ).catch((error) => {
      throw new Error(`${error.message}\nprometheus output:\n${prometheus.output()}`);
    });
    expect(await scraped('up{job="keyward"}')).toBe(1);
    expect(await scraped('keyward_storage_up')).toBe(1);
    expect(await scraped('keyward_rotation_promotion_blocked')).toBe(0);
    expect(await scraped('keyward_rotation_next_due_timestamp_seconds')).toBe(0);
    expect(await scraped('keyward_seconds_since_last_rotation')).not.toBeNull();

    const rotated = await harness.rotate(randomBytes(48).toString('base64url'));
    expect(rotated.version).toBeGreaterThan(before);
    await eventually(
      () => scraped('keyward_keyset_version'),
      (value) => value === rotated.version,
      WAIT_MS,
      200,
    );
    expect(await scraped('keyward_rotations_total{kind="manual"}')).toBe(1);
  });

  it('evaluates every shipped rule without error; none fires on a healthy control plane', async () => {
    const evaluated = await eventually(
      () => rules().catch(() => []),
      (found) =>
        found.length === ALERTS.length && found.every((rule) => !rule.lastEvaluation.startsWith('0001')),
      WAIT_MS,
      200,
    );
    expect(evaluated.map((rule) => rule.name)).toEqual(ALERTS);
    for (const rule of evaluated) {
      expect({ name: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({
        name: rule.name,
        health: 'ok',
        error: '',
      });
      expect({ name: rule.name, state: rule.state }).toEqual({ name: rule.name, state: 'inactive' });
    }
  });

  it('turns KeywardStorageUnreachable pending while Valkey is down, inactive once it is back', async () => {
    await valkey.kill();
    await eventually(
      () => scraped('keyward_storage_up'),
      (value) => value === 0,
      WAIT_MS,
      200,
    );
    const pending = await eventually(storageAlert, (alert) => alert !== null, WAIT_MS, 200);
    // `for: 2m` keeps it pending for the whole test: it never fires here.
    expect(pending).toMatchObject({
      state: 'pending',
      labels: { alertname: 'KeywardStorageUnreachable', severity: 'critical', instance, job: 'keyward' },
    });

    await valkey.restart();
    await eventually(
      () => scraped('keyward_storage_up'),
      (value) => value === 1,
      WAIT_MS,
      200,
    );
    await eventually(storageAlert, (alert) => alert === null, WAIT_MS, 200);
  });
});
