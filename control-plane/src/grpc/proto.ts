/**
 * proto/secret_service.proto: loaded at run time by @grpc/proto-loader, typed by the code generated from it in
 * control-plane/src/generated/ (`npm run generate:proto`, with the same loader options as below).
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import type { SecretServiceClient as GeneratedSecretServiceClient } from '../generated/cpc/orchestrator/SecretService.ts';
import type { ProtoGrpcType } from '../generated/secret_service.ts';
import { withStrictRequests } from './strict-request-decoder.ts';

export type { EdgePushResult } from '../generated/cpc/orchestrator/EdgePushResult.ts';
export type { EdgeState } from '../generated/cpc/orchestrator/EdgeState.ts';
export type {
  GetKeysetRequest,
  GetKeysetRequest__Input,
} from '../generated/cpc/orchestrator/GetKeysetRequest.ts';
export type { GetKeysetResponse } from '../generated/cpc/orchestrator/GetKeysetResponse.ts';
export type { KeyInfo } from '../generated/cpc/orchestrator/KeyInfo.ts';
export type {
  PromoteKeyRequest,
  PromoteKeyRequest__Input,
} from '../generated/cpc/orchestrator/PromoteKeyRequest.ts';
export type { PromoteKeyResponse } from '../generated/cpc/orchestrator/PromoteKeyResponse.ts';
export type {
  RevokeKeyRequest,
  RevokeKeyRequest__Input,
} from '../generated/cpc/orchestrator/RevokeKeyRequest.ts';
export type { RevokeKeyResponse } from '../generated/cpc/orchestrator/RevokeKeyResponse.ts';
export type {
  RevokeTokensRequest,
  RevokeTokensRequest__Input,
} from '../generated/cpc/orchestrator/RevokeTokensRequest.ts';
export type { RevokeTokensResponse } from '../generated/cpc/orchestrator/RevokeTokensResponse.ts';
export type {
  RotateSecretRequest,
  RotateSecretRequest__Input,
} from '../generated/cpc/orchestrator/RotateSecretRequest.ts';
export type { RotateSecretResponse } from '../generated/cpc/orchestrator/RotateSecretResponse.ts';
export type { RotationSchedule } from '../generated/cpc/orchestrator/RotationSchedule.ts';
export type {
  SecretServiceDefinition,
  SecretServiceHandlers,
} from '../generated/cpc/orchestrator/SecretService.ts';
export type {
  StageKeyRequest,
  StageKeyRequest__Input,
} from '../generated/cpc/orchestrator/StageKeyRequest.ts';
export type { StageKeyResponse } from '../generated/cpc/orchestrator/StageKeyResponse.ts';

export const PROTO_PATH = fileURLToPath(new URL('../../../proto/secret_service.proto', import.meta.url));

export const packageDefinition: PackageDefinition = loadSync(PROTO_PATH, {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

const proto = loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType;

export type SecretServiceClient = GeneratedSecretServiceClient;
/** The typed client constructor: `new SecretServiceClient(address, credentials)`. */
export const SecretServiceClient = proto.cpc.orchestrator.SecretService;

/** What the server registers: the same methods, requests decoded by grpc/strict-request-decoder.ts. */
export const strictSecretServiceDefinition = withStrictRequests(
  packageDefinition['cpc.orchestrator.SecretService'] as ServiceDefinition,
);
