// Original file: proto/secret_service.proto


export interface RotationSchedule__Input {
  /**
   * off (ROTATION_INTERVAL=off), idle (no standby key), staged (the standby key becomes active at due_at) or
   * blocked (due, and not every edge has confirmed a keyset holding it; the active key keeps signing).
   */
  'phase'?: (string);
  'standby_kid'?: (string);
  /**
   * When the next key is staged (idle with ROTATION_LEAD); empty otherwise.
   */
  'stage_at'?: (string);
  /**
   * When the next key is due to become active.
   */
  'due_at'?: (string);
  /**
   * EDGE_URLS targets that have not confirmed a keyset holding the standby key, and their URLs.
   */
  'unconfirmed_edges'?: (number);
  'unconfirmed_urls'?: (string)[];
  /**
   * Since when the promotion has been blocked; empty unless blocked.
   */
  'blocked_since'?: (string);
  /**
   * When the standby key was staged.
   */
  'staged_at'?: (string);
}

export interface RotationSchedule {
  /**
   * off (ROTATION_INTERVAL=off), idle (no standby key), staged (the standby key becomes active at due_at) or
   * blocked (due, and not every edge has confirmed a keyset holding it; the active key keeps signing).
   */
  'phase': (string);
  'standby_kid': (string);
  /**
   * When the next key is staged (idle with ROTATION_LEAD); empty otherwise.
   */
  'stage_at': (string);
  /**
   * When the next key is due to become active.
   */
  'due_at': (string);
  /**
   * EDGE_URLS targets that have not confirmed a keyset holding the standby key, and their URLs.
   */
  'unconfirmed_edges': (number);
  'unconfirmed_urls': (string)[];
  /**
   * Since when the promotion has been blocked; empty unless blocked.
   */
  'blocked_since': (string);
  /**
   * When the standby key was staged.
   */
  'staged_at': (string);
}
