// Original file: proto/secret_service.proto

import type { EdgePushResult__Input as _cpc_orchestrator_EdgePushResult__Input, EdgePushResult as _cpc_orchestrator_EdgePushResult } from '../../cpc/orchestrator/EdgePushResult.ts';
import type { Long } from '@grpc/proto-loader';

export interface StageKeyResponse__Input {
  'success'?: (boolean);
  'message'?: (string);
  'version'?: (number | string | Long);
  'kid'?: (string);
  'edges'?: (_cpc_orchestrator_EdgePushResult__Input)[];
}

export interface StageKeyResponse {
  'success': (boolean);
  'message': (string);
  'version': (number);
  'kid': (string);
  'edges': (_cpc_orchestrator_EdgePushResult)[];
}
