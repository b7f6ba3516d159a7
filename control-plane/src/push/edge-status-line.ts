/** `keyward status`'s line for one edge: what it holds, when it last confirmed, how far its clock is off. */
import type { EdgeState, KeyInfo } from '../grpc/proto.ts';

/**
 * For example `edge https://edge-1 confirmed v7 12s ago, 3 kids (active yes, standby no), clock +4 ms (rtt 2 ms)`;
 * what an older edge did not report reads "unknown". Kids are named by count only: the keyset lines name them.
 */
export function edgeStatusLine(edge: EdgeState, keys: readonly KeyInfo[], now: number): string {
  const confirmedAt = edge.last_success_at === '' ? Number.NaN : Date.parse(edge.last_success_at);
  const confirmed = Number.isNaN(confirmedAt)
    ? 'never confirmed'
    : `confirmed v${edge.confirmed_version} ${age(now - confirmedAt)} ago`;
  const parts = [confirmed, heldKids(edge, keys), clock(edge)];
  return `edge ${edge.url} ${parts.join(', ')}${edge.last_error ? ` (${edge.last_error})` : ''}`;
}

function heldKids(edge: EdgeState, keys: readonly KeyInfo[]): string {
  if (!edge.kids_known) return 'kids unknown';
  const held = new Set(edge.kids);
  const marks = (['active', 'standby'] as const).flatMap((status) => {
    const key = keys.find((candidate) => candidate.status === status);
    return key === undefined ? [] : [`${status} ${held.has(key.kid) ? 'yes' : 'no'}`];
  });
  const count = `${edge.kids.length} kid${edge.kids.length === 1 ? '' : 's'}`;
  return marks.length === 0 ? count : `${count} (${marks.join(', ')})`;
}

function clock(edge: EdgeState): string {
  if (edge.clock_offset_ms === undefined || edge.rtt_ms === undefined) return 'clock unknown';
  const sign = edge.clock_offset_ms < 0 ? '-' : '+';
  return `clock ${sign}${milliseconds(Math.abs(edge.clock_offset_ms))} (rtt ${milliseconds(edge.rtt_ms)})`;
}

function milliseconds(ms: number): string {
  return ms < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** 59s, 12m, 5h, 3d: the age at a glance, rounded down. */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7_200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}
