// Original file: proto/secret_service.proto

import type { Long } from '@grpc/proto-loader';

export interface EdgeState__Input {
  'url'?: (string);
  'confirmed_version'?: (number | string | Long);
  'last_error'?: (string);
  /**
   * When the edge last confirmed holding the pushed keyset or a newer one ("" never).
   */
  'last_success_at'?: (string);
  /**
   * The inventory, from the edge's answers to pushes (fields 30-39). The kids of the keyset at confirmed_version.
   */
  'kids'?: (string)[];
  /**
   * False while the edge has not named its kids (an edge older than these fields): kids is then unknown, not empty.
   */
  'kids_known'?: (boolean);
  /**
   * The edge's clock minus the control plane's, from its last answer to a push; absent while unknown.
   */
  'clock_offset_ms'?: (number | string | Long);
  /**
   * That answer's round trip: the true offset is within half of it (plus 1 ms) of clock_offset_ms.
   */
  'rtt_ms'?: (number | string | Long);
  '_clock_offset_ms'?: "clock_offset_ms";
  '_rtt_ms'?: "rtt_ms";
}

export interface EdgeState {
  'url': (string);
  'confirmed_version': (number);
  'last_error': (string);
  /**
   * When the edge last confirmed holding the pushed keyset or a newer one ("" never).
   */
  'last_success_at': (string);
  /**
   * The inventory, from the edge's answers to pushes (fields 30-39). The kids of the keyset at confirmed_version.
   */
  'kids': (string)[];
  /**
   * False while the edge has not named its kids (an edge older than these fields): kids is then unknown, not empty.
   */
  'kids_known': (boolean);
  /**
   * The edge's clock minus the control plane's, from its last answer to a push; absent while unknown.
   */
  'clock_offset_ms'?: (number);
  /**
   * That answer's round trip: the true offset is within half of it (plus 1 ms) of clock_offset_ms.
   */
  'rtt_ms'?: (number);
  '_clock_offset_ms'?: "clock_offset_ms";
  '_rtt_ms'?: "rtt_ms";
}
