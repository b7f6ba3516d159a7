import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { EdgePushResult__Input as _cpc_orchestrator_EdgePushResult__Input, EdgePushResult as _cpc_orchestrator_EdgePushResult } from './cpc/orchestrator/EdgePushResult.ts';
import type { EdgeState__Input as _cpc_orchestrator_EdgeState__Input, EdgeState as _cpc_orchestrator_EdgeState } from './cpc/orchestrator/EdgeState.ts';
import type { GetKeysetRequest__Input as _cpc_orchestrator_GetKeysetRequest__Input, GetKeysetRequest as _cpc_orchestrator_GetKeysetRequest } from './cpc/orchestrator/GetKeysetRequest.ts';
import type { GetKeysetResponse__Input as _cpc_orchestrator_GetKeysetResponse__Input, GetKeysetResponse as _cpc_orchestrator_GetKeysetResponse } from './cpc/orchestrator/GetKeysetResponse.ts';
import type { KeyInfo__Input as _cpc_orchestrator_KeyInfo__Input, KeyInfo as _cpc_orchestrator_KeyInfo } from './cpc/orchestrator/KeyInfo.ts';
import type { PromoteKeyRequest__Input as _cpc_orchestrator_PromoteKeyRequest__Input, PromoteKeyRequest as _cpc_orchestrator_PromoteKeyRequest } from './cpc/orchestrator/PromoteKeyRequest.ts';
import type { PromoteKeyResponse__Input as _cpc_orchestrator_PromoteKeyResponse__Input, PromoteKeyResponse as _cpc_orchestrator_PromoteKeyResponse } from './cpc/orchestrator/PromoteKeyResponse.ts';
import type { RevokeKeyRequest__Input as _cpc_orchestrator_RevokeKeyRequest__Input, RevokeKeyRequest as _cpc_orchestrator_RevokeKeyRequest } from './cpc/orchestrator/RevokeKeyRequest.ts';
import type { RevokeKeyResponse__Input as _cpc_orchestrator_RevokeKeyResponse__Input, RevokeKeyResponse as _cpc_orchestrator_RevokeKeyResponse } from './cpc/orchestrator/RevokeKeyResponse.ts';
import type { RevokeTokensRequest__Input as _cpc_orchestrator_RevokeTokensRequest__Input, RevokeTokensRequest as _cpc_orchestrator_RevokeTokensRequest } from './cpc/orchestrator/RevokeTokensRequest.ts';
import type { RevokeTokensResponse__Input as _cpc_orchestrator_RevokeTokensResponse__Input, RevokeTokensResponse as _cpc_orchestrator_RevokeTokensResponse } from './cpc/orchestrator/RevokeTokensResponse.ts';
import type { RotateSecretRequest__Input as _cpc_orchestrator_RotateSecretRequest__Input, RotateSecretRequest as _cpc_orchestrator_RotateSecretRequest } from './cpc/orchestrator/RotateSecretRequest.ts';
import type { RotateSecretResponse__Input as _cpc_orchestrator_RotateSecretResponse__Input, RotateSecretResponse as _cpc_orchestrator_RotateSecretResponse } from './cpc/orchestrator/RotateSecretResponse.ts';
import type { RotationSchedule__Input as _cpc_orchestrator_RotationSchedule__Input, RotationSchedule as _cpc_orchestrator_RotationSchedule } from './cpc/orchestrator/RotationSchedule.ts';
import type { SecretServiceClient as _cpc_orchestrator_SecretServiceClient, SecretServiceDefinition as _cpc_orchestrator_SecretServiceDefinition } from './cpc/orchestrator/SecretService.ts';
import type { StageKeyRequest__Input as _cpc_orchestrator_StageKeyRequest__Input, StageKeyRequest as _cpc_orchestrator_StageKeyRequest } from './cpc/orchestrator/StageKeyRequest.ts';
import type { StageKeyResponse__Input as _cpc_orchestrator_StageKeyResponse__Input, StageKeyResponse as _cpc_orchestrator_StageKeyResponse } from './cpc/orchestrator/StageKeyResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  cpc: {
    orchestrator: {
      EdgePushResult: MessageTypeDefinition<_cpc_orchestrator_EdgePushResult__Input, _cpc_orchestrator_EdgePushResult>
      EdgeState: MessageTypeDefinition<_cpc_orchestrator_EdgeState__Input, _cpc_orchestrator_EdgeState>
      GetKeysetRequest: MessageTypeDefinition<_cpc_orchestrator_GetKeysetRequest__Input, _cpc_orchestrator_GetKeysetRequest>
      GetKeysetResponse: MessageTypeDefinition<_cpc_orchestrator_GetKeysetResponse__Input, _cpc_orchestrator_GetKeysetResponse>
      KeyInfo: MessageTypeDefinition<_cpc_orchestrator_KeyInfo__Input, _cpc_orchestrator_KeyInfo>
      PromoteKeyRequest: MessageTypeDefinition<_cpc_orchestrator_PromoteKeyRequest__Input, _cpc_orchestrator_PromoteKeyRequest>
      PromoteKeyResponse: MessageTypeDefinition<_cpc_orchestrator_PromoteKeyResponse__Input, _cpc_orchestrator_PromoteKeyResponse>
      RevokeKeyRequest: MessageTypeDefinition<_cpc_orchestrator_RevokeKeyRequest__Input, _cpc_orchestrator_RevokeKeyRequest>
      RevokeKeyResponse: MessageTypeDefinition<_cpc_orchestrator_RevokeKeyResponse__Input, _cpc_orchestrator_RevokeKeyResponse>
      RevokeTokensRequest: MessageTypeDefinition<_cpc_orchestrator_RevokeTokensRequest__Input, _cpc_orchestrator_RevokeTokensRequest>
      RevokeTokensResponse: MessageTypeDefinition<_cpc_orchestrator_RevokeTokensResponse__Input, _cpc_orchestrator_RevokeTokensResponse>
      RotateSecretRequest: MessageTypeDefinition<_cpc_orchestrator_RotateSecretRequest__Input, _cpc_orchestrator_RotateSecretRequest>
      RotateSecretResponse: MessageTypeDefinition<_cpc_orchestrator_RotateSecretResponse__Input, _cpc_orchestrator_RotateSecretResponse>
      RotationSchedule: MessageTypeDefinition<_cpc_orchestrator_RotationSchedule__Input, _cpc_orchestrator_RotationSchedule>
      SecretService: SubtypeConstructor<typeof grpc.Client, _cpc_orchestrator_SecretServiceClient> & { service: _cpc_orchestrator_SecretServiceDefinition }
      StageKeyRequest: MessageTypeDefinition<_cpc_orchestrator_StageKeyRequest__Input, _cpc_orchestrator_StageKeyRequest>
      StageKeyResponse: MessageTypeDefinition<_cpc_orchestrator_StageKeyResponse__Input, _cpc_orchestrator_StageKeyResponse>
    }
  }
}

