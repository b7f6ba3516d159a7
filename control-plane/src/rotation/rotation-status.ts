/**
 * The scheduled rotation as a replica reports it: the `rotation` member of /healthz, GetKeyset's `schedule`
 * and the line `keyward status` prints. Kids, times and edge URLs only.
 */
import type { RotationSchedule } from '../grpc/proto.ts';

export interface RotationStatus {
  /**
   * `off`: ROTATION_INTERVAL=off. `idle`: no standby key, waiting for `stage_at` (or, without ROTATION_LEAD, for
   * the one-step rotation at `due_at`). `staged`: the standby key becomes active at `due_at`. `blocked`: it is
   * due, and not every edge has confirmed it.
   */
  phase: 'off' | 'idle' | 'staged' | 'blocked';
  standby_kid: string | null;
  /** When the standby key was staged. */
  staged_at: string | null;
  /** When the next key is staged (idle, with ROTATION_LEAD). */
  stage_at: string | null;
  /** When the next key is due to become active. */
  due_at: string | null;
  /** EDGE_URLS targets that have not confirmed a keyset holding the standby key (0 without one). */
  unconfirmed_edges: number;
  unconfirmed_urls: string[];
  /** Since when the promotion has been blocked. */
  blocked_since: string | null;
}

export const ROTATION_OFF: RotationStatus = {
  phase: 'off',
  standby_kid: null,
  staged_at: null,
  stage_at: null,
  due_at: null,
  unconfirmed_edges: 0,
  unconfirmed_urls: [],
  blocked_since: null,
};

/** GetKeyset's `schedule`: the same, '' for what is null. */
export function rotationSchedule(status: RotationStatus): RotationSchedule {
  return {
    phase: status.phase,
    standby_kid: status.standby_kid ?? '',
    staged_at: status.staged_at ?? '',
    stage_at: status.stage_at ?? '',
    due_at: status.due_at ?? '',
    unconfirmed_edges: status.unconfirmed_edges,
    unconfirmed_urls: status.unconfirmed_urls,
    blocked_since: status.blocked_since ?? '',
  };
}

/** The line `keyward status` prints for GetKeyset's `schedule` (a server without it: nothing). */
export function scheduleLine(schedule: RotationSchedule | null | undefined): string | null {
  if (!schedule?.phase) return null;
  const edges = (count: number | undefined, urls: string[] | undefined) =>
    `${count ?? 0} edge${count === 1 ? '' : 's'} not confirmed${urls?.length ? ` (${urls.join(', ')})` : ''}`;
  switch (schedule.phase) {
    case 'off':
      return 'schedule off (ROTATION_INTERVAL=off)';
    case 'idle':
      return schedule.stage_at
        ? `schedule idle: next key staged at ${schedule.stage_at}, active from ${schedule.due_at}`
        : `schedule idle: next rotation at ${schedule.due_at}`;
    case 'staged':
      return `schedule staged: standby ${schedule.standby_kid} becomes active at ${schedule.due_at} once every edge has confirmed it; ${edges(schedule.unconfirmed_edges, schedule.unconfirmed_urls)}`;
    case 'blocked':
      return `schedule BLOCKED since ${schedule.blocked_since}: standby ${schedule.standby_kid} was due at ${schedule.due_at}; ${edges(schedule.unconfirmed_edges, schedule.unconfirmed_urls)}; the active key keeps signing`;
    default:
      return `schedule ${schedule.phase}`;
  }
}
