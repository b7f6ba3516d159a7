// Original file: proto/secret_service.proto

import type { Long } from '@grpc/proto-loader';

export interface EdgeState__Input {
  'url'?: (string);
  'confirmed_version'?: (number | string | Long);
  'last_error'?: (string);
  'last_success_at'?: (string);
}

export interface EdgeState {
  'url': (string);
  'confirmed_version': (number);
  'last_error': (string);
  'last_success_at': (string);
}
