// Original file: proto/secret_service.proto

import type { KeyInfo__Input as _cpc_orchestrator_KeyInfo__Input, KeyInfo as _cpc_orchestrator_KeyInfo } from '../../cpc/orchestrator/KeyInfo.ts';
import type { EdgeState__Input as _cpc_orchestrator_EdgeState__Input, EdgeState as _cpc_orchestrator_EdgeState } from '../../cpc/orchestrator/EdgeState.ts';
import type { Long } from '@grpc/proto-loader';

export interface GetKeysetResponse__Input {
  'version'?: (number | string | Long);
  'issued_at'?: (string);
  'keys'?: (_cpc_orchestrator_KeyInfo__Input)[];
  'edges'?: (_cpc_orchestrator_EdgeState__Input)[];
}

export interface GetKeysetResponse {
  'version': (number);
  'issued_at': (string);
  'keys': (_cpc_orchestrator_KeyInfo)[];
  'edges': (_cpc_orchestrator_EdgeState)[];
}
