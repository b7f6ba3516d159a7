// Original file: proto/secret_service.proto

import type { Long } from '@grpc/proto-loader';

export interface EdgePushResult__Input {
  'url'?: (string);
  'confirmed'?: (boolean);
  'version'?: (number | string | Long);
  'error'?: (string);
}

export interface EdgePushResult {
  'url': (string);
  'confirmed': (boolean);
  'version': (number);
  'error': (string);
}
