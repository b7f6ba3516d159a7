// Original file: proto/secret_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetKeysetRequest__Input as _cpc_orchestrator_GetKeysetRequest__Input, GetKeysetRequest as _cpc_orchestrator_GetKeysetRequest } from '../../cpc/orchestrator/GetKeysetRequest.ts';
import type { GetKeysetResponse__Input as _cpc_orchestrator_GetKeysetResponse__Input, GetKeysetResponse as _cpc_orchestrator_GetKeysetResponse } from '../../cpc/orchestrator/GetKeysetResponse.ts';
import type { PromoteKeyRequest__Input as _cpc_orchestrator_PromoteKeyRequest__Input, PromoteKeyRequest as _cpc_orchestrator_PromoteKeyRequest } from '../../cpc/orchestrator/PromoteKeyRequest.ts';
import type { PromoteKeyResponse__Input as _cpc_orchestrator_PromoteKeyResponse__Input, PromoteKeyResponse as _cpc_orchestrator_PromoteKeyResponse } from '../../cpc/orchestrator/PromoteKeyResponse.ts';
import type { RevokeKeyRequest__Input as _cpc_orchestrator_RevokeKeyRequest__Input, RevokeKeyRequest as _cpc_orchestrator_RevokeKeyRequest } from '../../cpc/orchestrator/RevokeKeyRequest.ts';
import type { RevokeKeyResponse__Input as _cpc_orchestrator_RevokeKeyResponse__Input, RevokeKeyResponse as _cpc_orchestrator_RevokeKeyResponse } from '../../cpc/orchestrator/RevokeKeyResponse.ts';
import type { RevokeTokensRequest__Input as _cpc_orchestrator_RevokeTokensRequest__Input, RevokeTokensRequest as _cpc_orchestrator_RevokeTokensRequest } from '../../cpc/orchestrator/RevokeTokensRequest.ts';
import type { RevokeTokensResponse__Input as _cpc_orchestrator_RevokeTokensResponse__Input, RevokeTokensResponse as _cpc_orchestrator_RevokeTokensResponse } from '../../cpc/orchestrator/RevokeTokensResponse.ts';
import type { RotateSecretRequest__Input as _cpc_orchestrator_RotateSecretRequest__Input, RotateSecretRequest as _cpc_orchestrator_RotateSecretRequest } from '../../cpc/orchestrator/RotateSecretRequest.ts';
import type { RotateSecretResponse__Input as _cpc_orchestrator_RotateSecretResponse__Input, RotateSecretResponse as _cpc_orchestrator_RotateSecretResponse } from '../../cpc/orchestrator/RotateSecretResponse.ts';
import type { StageKeyRequest__Input as _cpc_orchestrator_StageKeyRequest__Input, StageKeyRequest as _cpc_orchestrator_StageKeyRequest } from '../../cpc/orchestrator/StageKeyRequest.ts';
import type { StageKeyResponse__Input as _cpc_orchestrator_StageKeyResponse__Input, StageKeyResponse as _cpc_orchestrator_StageKeyResponse } from '../../cpc/orchestrator/StageKeyResponse.ts';

export interface SecretServiceClient extends grpc.Client {
  /**
   * The keyset's versions, kids, status and times. Never secret material.
   */
  GetKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  GetKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  GetKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  GetKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  /**
   * The keyset's versions, kids, status and times. Never secret material.
   */
  getKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  getKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  getKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  getKeyset(argument: _cpc_orchestrator_GetKeysetRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_GetKeysetResponse>): grpc.ClientUnaryCall;
  
  /**
   * Make the standby key active once every edge holds it (or at once with force).
   */
  PromoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  PromoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  PromoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  PromoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  /**
   * Make the standby key active once every edge holds it (or at once with force).
   */
  promoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  promoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  promoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  promoteKey(argument: _cpc_orchestrator_PromoteKeyRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_PromoteKeyResponse>): grpc.ClientUnaryCall;
  
  /**
   * Drop a previous key at once (emergency). The active key cannot be revoked: rotate instead.
   */
  RevokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  RevokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  RevokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  RevokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  /**
   * Drop a previous key at once (emergency). The active key cannot be revoked: rotate instead.
   */
  revokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  revokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  revokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  revokeKey(argument: _cpc_orchestrator_RevokeKeyRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_RevokeKeyResponse>): grpc.ClientUnaryCall;
  
  /**
   * Refuse tokens everywhere from now on, for REVOCATION_TTL: each jti, and every token of subject issued before
   * the call. Answers after the push round, with which edges confirmed.
   */
  RevokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  RevokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  RevokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  RevokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  /**
   * Refuse tokens everywhere from now on, for REVOCATION_TTL: each jti, and every token of subject issued before
   * the call. Answers after the push round, with which edges confirmed.
   */
  revokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  revokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  revokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  revokeTokens(argument: _cpc_orchestrator_RevokeTokensRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_RevokeTokensResponse>): grpc.ClientUnaryCall;
  
  /**
   * Install a new active secret; the previous one verifies for the grace period (or not at all when emergency).
   */
  RotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  RotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  RotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  RotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  /**
   * Install a new active secret; the previous one verifies for the grace period (or not at all when emergency).
   */
  rotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  rotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  rotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  rotateSecret(argument: _cpc_orchestrator_RotateSecretRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_RotateSecretResponse>): grpc.ClientUnaryCall;
  
  /**
   * Add a standby key: it verifies everywhere (and is published in the JWKS) before anything signs with it.
   */
  StageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  StageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  StageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  StageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  /**
   * Add a standby key: it verifies everywhere (and is published in the JWKS) before anything signs with it.
   */
  stageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  stageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, metadata: grpc.Metadata, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  stageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, options: grpc.CallOptions, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  stageKey(argument: _cpc_orchestrator_StageKeyRequest__Input, callback: grpc.requestCallback<_cpc_orchestrator_StageKeyResponse>): grpc.ClientUnaryCall;
  
}

export interface SecretServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The keyset's versions, kids, status and times. Never secret material.
   */
  GetKeyset: grpc.handleUnaryCall<_cpc_orchestrator_GetKeysetRequest, _cpc_orchestrator_GetKeysetResponse__Input>;
  
  /**
   * Make the standby key active once every edge holds it (or at once with force).
   */
  PromoteKey: grpc.handleUnaryCall<_cpc_orchestrator_PromoteKeyRequest, _cpc_orchestrator_PromoteKeyResponse__Input>;
  
  /**
   * Drop a previous key at once (emergency). The active key cannot be revoked: rotate instead.
   */
  RevokeKey: grpc.handleUnaryCall<_cpc_orchestrator_RevokeKeyRequest, _cpc_orchestrator_RevokeKeyResponse__Input>;
  
  /**
   * Refuse tokens everywhere from now on, for REVOCATION_TTL: each jti, and every token of subject issued before
   * the call. Answers after the push round, with which edges confirmed.
   */
  RevokeTokens: grpc.handleUnaryCall<_cpc_orchestrator_RevokeTokensRequest, _cpc_orchestrator_RevokeTokensResponse__Input>;
  
  /**
   * Install a new active secret; the previous one verifies for the grace period (or not at all when emergency).
   */
  RotateSecret: grpc.handleUnaryCall<_cpc_orchestrator_RotateSecretRequest, _cpc_orchestrator_RotateSecretResponse__Input>;
  
  /**
   * Add a standby key: it verifies everywhere (and is published in the JWKS) before anything signs with it.
   */
  StageKey: grpc.handleUnaryCall<_cpc_orchestrator_StageKeyRequest, _cpc_orchestrator_StageKeyResponse__Input>;
  
}

export interface SecretServiceDefinition extends grpc.ServiceDefinition {
  GetKeyset: MethodDefinition<_cpc_orchestrator_GetKeysetRequest__Input, _cpc_orchestrator_GetKeysetResponse__Input, _cpc_orchestrator_GetKeysetRequest, _cpc_orchestrator_GetKeysetResponse>
  PromoteKey: MethodDefinition<_cpc_orchestrator_PromoteKeyRequest__Input, _cpc_orchestrator_PromoteKeyResponse__Input, _cpc_orchestrator_PromoteKeyRequest, _cpc_orchestrator_PromoteKeyResponse>
  RevokeKey: MethodDefinition<_cpc_orchestrator_RevokeKeyRequest__Input, _cpc_orchestrator_RevokeKeyResponse__Input, _cpc_orchestrator_RevokeKeyRequest, _cpc_orchestrator_RevokeKeyResponse>
  RevokeTokens: MethodDefinition<_cpc_orchestrator_RevokeTokensRequest__Input, _cpc_orchestrator_RevokeTokensResponse__Input, _cpc_orchestrator_RevokeTokensRequest, _cpc_orchestrator_RevokeTokensResponse>
  RotateSecret: MethodDefinition<_cpc_orchestrator_RotateSecretRequest__Input, _cpc_orchestrator_RotateSecretResponse__Input, _cpc_orchestrator_RotateSecretRequest, _cpc_orchestrator_RotateSecretResponse>
  StageKey: MethodDefinition<_cpc_orchestrator_StageKeyRequest__Input, _cpc_orchestrator_StageKeyResponse__Input, _cpc_orchestrator_StageKeyRequest, _cpc_orchestrator_StageKeyResponse>
}
