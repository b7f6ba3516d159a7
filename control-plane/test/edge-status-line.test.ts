/** `keyward status`'s line per edge, from GetKeyset's EdgeState and the keyset's keys. */
import { describe, expect, it } from 'vitest';
import type { EdgeState, KeyInfo } from '../src/grpc/proto.ts';
import { edgeStatusLine } from '../src/push/edge-status-line.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const key = (kid: string, status: string): KeyInfo => ({
  kid,
  status,
  alg: 'ES256',
  secret_version: 1,
  created_at: '2026-05-01T00:00:00Z',
  expires_at: '',
});
const KEYS = [key('ACTIVE', 'active'), key('STANDBY', 'standby'), key('OLD', 'previous')];

function edge(fields: Partial<EdgeState>): EdgeState {
  return {
    url: 'https://edge-1.example',
    confirmed_version: 7,
    last_error: '',
    last_success_at: new Date(NOW - 12_000).toISOString(),
    kids: ['ACTIVE', 'STANDBY', 'OLD'],
    kids_known: true,
    clock_offset_ms: 4,
    rtt_ms: 2,
    ...fields,
  };
}

describe('edgeStatusLine', () => {
  it('names the version, the kid count, whether the active and standby kids are held, the age and the offset', () => {
    expect(edgeStatusLine(edge({}), KEYS, NOW)).toBe(
      'edge https://edge-1.example confirmed v7 12s ago, 3 kids (active yes, standby yes), clock +4 ms (rtt 2 ms)',
    );
  });

  it('says which of the active and standby kids an edge lacks, and leaves out a standby the keyset has not', () => {
    expect(edgeStatusLine(edge({ kids: ['ACTIVE', 'OLD'] }), KEYS, NOW)).toContain(
      '2 kids (active yes, standby no)',
    );
    expect(edgeStatusLine(edge({ kids: ['OLD'] }), KEYS, NOW)).toContain('1 kid (active no, standby no)');
    expect(edgeStatusLine(edge({ kids: ['ACTIVE'] }), [KEYS[0] as KeyInfo], NOW)).toContain(
      '1 kid (active yes),',
    );
  });

  it('an edge behind, far off, long unconfirmed', () => {
    const line = edgeStatusLine(
      edge({
        clock_offset_ms: -2_700_000,
        rtt_ms: 15_000,
        last_success_at: new Date(NOW - 3 * 86_400_000).toISOString(),
      }),
      KEYS,
      NOW,
    );
    expect(line).toContain('confirmed v7 3d ago');
    expect(line).toContain('clock -2700.0 s (rtt 15.0 s)');
    expect(
      edgeStatusLine(edge({ last_success_at: new Date(NOW - 300_000).toISOString() }), KEYS, NOW),
    ).toContain(' 5m ago');
    expect(
      edgeStatusLine(edge({ last_success_at: new Date(NOW - 5 * 3_600_000).toISOString() }), KEYS, NOW),
    ).toContain(' 5h ago');
  });

  it('reads "unknown" for what an edge did not report, "never confirmed" without a confirmation, and appends the error', () => {
    expect(
      edgeStatusLine(
        edge({ kids: [], kids_known: false, clock_offset_ms: undefined, rtt_ms: undefined }),
        KEYS,
        NOW,
      ),
    ).toBe('edge https://edge-1.example confirmed v7 12s ago, kids unknown, clock unknown');
    expect(
      edgeStatusLine(
        edge({
          confirmed_version: 0,
          last_success_at: '',
          kids: [],
          kids_known: false,
          clock_offset_ms: undefined,
          rtt_ms: undefined,
          last_error: 'timeout',
        }),
        KEYS,
        NOW,
      ),
    ).toBe('edge https://edge-1.example never confirmed, kids unknown, clock unknown (timeout)');
  });
});
