// Original file: proto/secret_service.proto

import type { KeyInfo__Input as _cpc_orchestrator_KeyInfo__Input, KeyInfo as _cpc_orchestrator_KeyInfo } from '../../cpc/orchestrator/KeyInfo.ts';
import type { EdgeState__Input as _cpc_orchestrator_EdgeState__Input, EdgeState as _cpc_orchestrator_EdgeState } from '../../cpc/orchestrator/EdgeState.ts';
import type { RotationSchedule__Input as _cpc_orchestrator_RotationSchedule__Input, RotationSchedule as _cpc_orchestrator_RotationSchedule } from '../../cpc/orchestrator/RotationSchedule.ts';
import type { Long } from '@grpc/proto-loader';

export interface GetKeysetResponse__Input {
  'version'?: (number | string | Long);
  'issued_at'?: (string);
  'keys'?: (_cpc_orchestrator_KeyInfo__Input)[];
  'edges'?: (_cpc_orchestrator_EdgeState__Input)[];
  /**
   * The scheduled rotation as the answering replica sees it (ROTATION_INTERVAL, ROTATION_LEAD).
   */
  'schedule'?: (_cpc_orchestrator_RotationSchedule__Input | null);
}

export interface GetKeysetResponse {
  'version': (number);
  'issued_at': (string);
  'keys': (_cpc_orchestrator_KeyInfo)[];
  'edges': (_cpc_orchestrator_EdgeState)[];
  /**
   * The scheduled rotation as the answering replica sees it (ROTATION_INTERVAL, ROTATION_LEAD).
   */
  'schedule': (_cpc_orchestrator_RotationSchedule | null);
}
