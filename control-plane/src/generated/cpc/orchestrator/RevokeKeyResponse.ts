// Original file: proto/secret_service.proto

import type { Long } from '@grpc/proto-loader';

export interface RevokeKeyResponse__Input {
  'success'?: (boolean);
  'message'?: (string);
  'version'?: (number | string | Long);
}

export interface RevokeKeyResponse {
  'success': (boolean);
  'message': (string);
  'version': (number);
}
