/**
 * The alerting rules shipped in deploy/prometheus: `promtool check rules` accepts them and `promtool test rules`
 * passes (series that fire each alert and series that do not). Skipped only outside CI when promtool is absent.
 */
import { describe, expect, it } from 'vitest';
import { ALERT_RULES, ALERT_RULES_TEST, prometheusMissing, promtool } from '../../test/support/prometheus.ts';

const missing = prometheusMissing();
if (missing) console.warn(`prometheus-alert-rules: skipped, ${missing}`);

describe.skipIf(missing !== null)('deploy/prometheus/keyward-alerts.yml', () => {
  it('passes promtool check rules, with the six alerts', () => {
    const { status, output } = promtool(['check', 'rules', ALERT_RULES]);
    expect(status, output).toBe(0);
    expect(output).toContain('SUCCESS: 6 rules found');
  });

  it('passes promtool test rules', () => {
    const { status, output } = promtool(['test', 'rules', ALERT_RULES_TEST]);
    expect(status, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });
});
