/**
 * A real Prometheus scraping a real control plane's GET /metrics and a Node edge's, with the shipped alerting
 * rules loaded: the keyward metrics arrive under their documented names (timestamps as `_timestamp_seconds`,
 * `keyward_build_info`, the latency histograms, the process metrics unprefixed), `promtool check metrics` finds
 * nothing in the control plane's text but prom-client's own three gauge names, every rule evaluates without
 * error, and with Valkey killed KeywardStorageUnreachable goes pending on the scraped keyward_storage_up, then
 * inactive once Valkey is back. Skipped only outside CI when prometheus is absent.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYWARD_VERSION } from '../../shared/build-info.ts';
import { eventually } from '../../test/support/bounded-waits.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { type EdgeProcess, startNodeEdge } from '../../test/support/edge-processes.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import {
  ALERT_RULES,
  type Prometheus,
  prometheusMissing,
  promtool,
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

/**
 * What `promtool check metrics` says of prom-client's default metrics: gauges it names `_total` (they count
 * what is open now). Their names are what every Node dashboard queries, so they stay; anything else is ours.
 */
const PROM_CLIENT_FINDINGS = [
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
];

const missing = prometheusMissing();
if (missing) console.warn(`prometheus-scrape: skipped, ${missing}`);

describe.skipIf(missing !== null)('Prometheus scraping the control plane', () => {
  let valkey: ValkeyServer;
  let edge: EdgeProcess;
  let harness: Harness;
  let prometheus: Prometheus;
  let instance: string;
  let edgeInstance: string;

  beforeAll(async () => {
    valkey = await startValkey();
    // Push-only, and up before the control plane: its first push lands, so no push failure is ever counted.
    edge = await startNodeEdge({ keysetKey: KEYSET_KEY });
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey: KEYSET_KEY,
      edgeUrls: [edge.url],
      env: { KEYSET_CACHE_TTL: '1s' },
    });
    instance = `127.0.0.1:${harness.controlPlane.httpPort}`;
    edgeInstance = `127.0.0.1:${edge.port}`;
    prometheus = await startPrometheus({
      targets: [instance],
      edgeTargets: [edgeInstance],
      ruleFiles: [ALERT_RULES],
    });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await harness?.stop();
    await edge?.stop();
    await valkey?.stop();
  });

  /** The value Prometheus holds now for `expr` on `at` (this control plane unless given), or null while none. */
  async function scraped(expr: string, at = instance): Promise<number | null> {
    const result = await prometheus.query(expr).catch(() => []);
    const sample = result.find((series) => series.metric.instance === at);
    return sample ? Number(sample.value[1]) : null;
  }

  /** Waits until Prometheus holds `expr` on `at` and `accept` takes its value. */
  function scrapedUntil(expr: string, accept: (value: number | null) => boolean, at = instance) {
    return eventually(() => scraped(expr, at), accept, WAIT_MS, 200).catch((error) => {
      throw new Error(`${expr} on ${at}: ${error.message}\nprometheus output:\n${prometheus.output()}`);
    });
  }

  async function rules(): Promise<Rule[]> {
    const data = await prometheus.api<{ groups: Array<{ name: string; rules: Rule[] }> }>('rules');
    return data.groups.filter((group) => group.name === 'keyward').flatMap((group) => group.rules);
  }

  async function storageAlert(): Promise<Alert | null> {
    const { alerts } = await prometheus.api<{ alerts: Alert[] }>('alerts');
    return alerts.find((alert) => alert.labels.alertname === 'KeywardStorageUnreachable') ?? null;
  }

  it('scrapes the keyward metrics under their documented names and follows a rotation', async () => {
    const before = (await harness.getKeyset()).version;
    await scrapedUntil('keyward_keyset_version', (value) => value === before);
    expect(await scraped('up{job="keyward"}')).toBe(1);
    expect(await scraped('keyward_storage_up')).toBe(1);
    expect(await scraped('keyward_rotation_promotion_blocked')).toBe(0);
    // ROTATION_INTERVAL=off: nothing is due and nothing is staged, so neither point in time has a series.
    expect(await scraped('keyward_rotation_next_due_timestamp_seconds')).toBeNull();
    expect(await scraped('keyward_rotation_standby_staged_timestamp_seconds')).toBeNull();
    expect(
      await scraped(
        `keyward_build_info{component="control-plane",version="${KEYWARD_VERSION}",runtime="node",runtime_version="${process.versions.node}"}`,
      ),
    ).toBe(1);
    // The process metrics under the names every Node dashboard queries, none under a keyward_ prefix.
    expect(await scraped('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(await scraped('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(await scraped('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(await scraped('count({__name__=~"keyward_(process|nodejs)_.*"})')).toBeNull();
    // The active key was made when this control plane started on an empty Valkey: seconds ago.
    const age = await scraped('time() - keyward_active_key_created_timestamp_seconds');
    expect(age).toBeGreaterThanOrEqual(-1);
    expect(age).toBeLessThan(600);
    const createdBefore = await scraped('keyward_active_key_created_timestamp_seconds');

    const rotated = await harness.rotate(randomBytes(48).toString('base64url'));
    expect(rotated.version).toBeGreaterThan(before);
    expect(rotated.message).toContain('1/1 edges confirmed');
    await scrapedUntil('keyward_keyset_version', (value) => value === rotated.version);
    expect(await scraped('keyward_rotations_total{kind="manual"}')).toBe(1);
    expect(await scraped('keyward_active_key_created_timestamp_seconds')).toBeGreaterThan(
      createdBefore as number,
    );
    // One RotateSecret, timed from the request to the answer, which came after the edge confirmed.
    expect(await scraped('keyward_admin_call_duration_seconds_count{rpc="RotateSecret"}')).toBe(1);
    expect(await scraped('keyward_admin_call_duration_seconds_bucket{rpc="RotateSecret",le="+Inf"}')).toBe(1);
    expect(await scraped('keyward_admin_call_duration_seconds_sum{rpc="RotateSecret"}')).toBeGreaterThan(0);
    // The pushes at start and after the rotation, each timed; none failed.
    expect(await scraped('keyward_push_attempt_duration_seconds_count{outcome="ok"}')).toBeGreaterThanOrEqual(
      2,
    );
    expect(await scraped('keyward_push_attempt_duration_seconds_count{outcome="failed"}')).toBeNull();
    // Each version held (the one at start, the rotated one) pushed in a round every edge confirmed.
    expect(
      await scraped('keyward_push_round_duration_seconds_count{outcome="all_confirmed"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await scraped('keyward_push_round_duration_seconds_count{outcome="not_all_confirmed"}'),
    ).toBeNull();
    expect(
      await scraped('histogram_quantile(0.5, keyward_push_attempt_duration_seconds_bucket{outcome="ok"})'),
    ).toBeLessThanOrEqual(10);

    // The edge, scraped as job keyward-edge: the pushed keyset, when it was taken, and its build.
    await scrapedUntil('keyward_edge_keyset_version', (value) => value === rotated.version, edgeInstance);
    const taken = await scraped('time() - keyward_edge_keyset_taken_timestamp_seconds', edgeInstance);
    expect(taken).toBeGreaterThanOrEqual(-1);
    expect(taken).toBeLessThan(600);
    expect(
      await scraped(
        `keyward_build_info{job="keyward-edge",component="edge",version="${KEYWARD_VERSION}",runtime="node"}`,
        edgeInstance,
      ),
    ).toBe(1);
    expect(await scraped('keyward_edge_pushes_total{outcome="taken"}', edgeInstance)).toBeGreaterThanOrEqual(
      2,
    );
  });

  it("serves text in which promtool check metrics finds nothing but prom-client's own gauge names", async () => {
    const response = await fetch(`${harness.httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    // The histograms have samples: their buckets, _sum and _count are checked too.
    expect(text).toContain('keyward_admin_call_duration_seconds_bucket{le="0.001",rpc="RotateSecret"}');
    const { status, output } = promtool(['check', 'metrics'], text);
    const findings = output.split('\n').filter((line) => line !== '');
    expect(findings.sort()).toEqual(PROM_CLIENT_FINDINGS);
    expect(status, output).toBe(3);
  });

  it('evaluates every shipped rule without error; none fires on a healthy control plane', async () => {
    // Inactive too: a scrape between a keyset's install and its push's confirmation sees the edge lagging for
    // that one evaluation (pending, never firing with `for: 15m`); the next evaluation clears it.
    const evaluated = await eventually(
      () => rules().catch(() => []),
      (found) =>
        found.length === ALERTS.length &&
        found.every((rule) => !rule.lastEvaluation.startsWith('0001') && rule.state === 'inactive'),
      WAIT_MS,
      200,
    ).catch(async (error) => {
      throw new Error(`${error.message}\nrules: ${JSON.stringify(await rules().catch(() => []))}`);
    });
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
