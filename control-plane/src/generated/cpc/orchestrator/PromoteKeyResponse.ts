// Original file: proto/secret_service.proto

import type { EdgePushResult__Input as _cpc_orchestrator_EdgePushResult__Input, EdgePushResult as _cpc_orchestrator_EdgePushResult } from '../../cpc/orchestrator/EdgePushResult.ts';
import type { Long } from '@grpc/proto-loader';

export interface PromoteKeyResponse__Input {
  'success'?: (boolean);
  'message'?: (string);
  'version'?: (number | string | Long);
  'edges'?: (_cpc_orchestrator_EdgePushResult__Input)[];
}

export interface PromoteKeyResponse {
  'success': (boolean);
  'message': (string);
  'version': (number);
  'edges': (_cpc_orchestrator_EdgePushResult)[];
}
