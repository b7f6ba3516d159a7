/** Loads proto/secret_service.proto at run time (no generated code) and types its messages by hand. */
import { fileURLToPath } from 'node:url';
import { type GrpcObject, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { withStrictRequests } from './strict-request-decoder.ts';

export const PROTO_PATH = fileURLToPath(new URL('../../../proto/secret_service.proto', import.meta.url));

export const packageDefinition: PackageDefinition = loadSync(PROTO_PATH, {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

const grpcObject = loadPackageDefinition(packageDefinition);
export const SecretServiceClient = ((grpcObject.cpc as GrpcObject).orchestrator as GrpcObject)
  .SecretService as ServiceClientConstructor;

/** What the server registers: the same methods, requests decoded by grpc/strict-request-decoder.ts. */
export const strictSecretServiceDefinition = withStrictRequests(
  packageDefinition['cpc.orchestrator.SecretService'] as ServiceDefinition,
);

export interface RotateSecretRequest {
  admin_token: string;
  new_secret: string;
  generate: boolean;
  emergency: boolean;
}

export interface EdgePushResult {
  url: string;
  confirmed: boolean;
  version: number;
  error: string;
}

export interface RotateSecretResponse {
  success: boolean;
  message: string;
  version: number;
  kid: string;
  edges: EdgePushResult[];
}

export interface GetKeysetRequest {
  admin_token: string;
}

export interface KeyInfo {
  kid: string;
  secret_version: number;
  status: string;
  created_at: string;
  expires_at: string;
}

export interface EdgeState {
  url: string;
  confirmed_version: number;
  last_error: string;
  last_success_at: string;
}

export interface GetKeysetResponse {
  version: number;
  issued_at: string;
  keys: KeyInfo[];
  edges: EdgeState[];
}

export interface RevokeKeyRequest {
  admin_token: string;
  kid: string;
}

export interface RevokeKeyResponse {
  success: boolean;
  message: string;
  version: number;
}
