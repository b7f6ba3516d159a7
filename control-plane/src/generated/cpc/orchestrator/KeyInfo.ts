// Original file: proto/secret_service.proto

import type { Long } from '@grpc/proto-loader';

export interface KeyInfo__Input {
  'kid'?: (string);
  'secret_version'?: (number | string | Long);
  'status'?: (string);
  'created_at'?: (string);
  'expires_at'?: (string);
  'alg'?: (string);
}

export interface KeyInfo {
  'kid': (string);
  'secret_version': (number);
  'status': (string);
  'created_at': (string);
  'expires_at': (string);
  'alg': (string);
}
