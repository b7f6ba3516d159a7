// Original file: proto/secret_service.proto

import type { EdgePushResult__Input as _cpc_orchestrator_EdgePushResult__Input, EdgePushResult as _cpc_orchestrator_EdgePushResult } from '../../cpc/orchestrator/EdgePushResult.ts';
import type { Long } from '@grpc/proto-loader';

export interface RevokeTokensResponse__Input {
  'success'?: (boolean);
  'message'?: (string);
  /**
   * The revocation list's serial after this call: the call's time in Unix ms, or one more than the previous
   * serial if that is later (it rises with every call and is never reused).
   */
  'version'?: (number | string | Long);
  'edges'?: (_cpc_orchestrator_EdgePushResult__Input)[];
}

export interface RevokeTokensResponse {
  'success': (boolean);
  'message': (string);
  /**
   * The revocation list's serial after this call: the call's time in Unix ms, or one more than the previous
   * serial if that is later (it rises with every call and is never reused).
   */
  'version': (number);
  'edges': (_cpc_orchestrator_EdgePushResult)[];
}
