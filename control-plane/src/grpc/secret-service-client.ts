/**
 * The SecretService client the CLI and the tests use: the generated client type, and one promise-returning
 * unary call with a deadline and `authorization: Bearer` metadata.
 */
import { type ChannelCredentials, type ChannelOptions, type Client, Metadata } from '@grpc/grpc-js';
import {
  type GetKeysetRequest__Input,
  type GetKeysetResponse,
  type PromoteKeyRequest__Input,
  type PromoteKeyResponse,
  type RevokeKeyRequest__Input,
  type RevokeKeyResponse,
  type RevokeTokensRequest__Input,
  type RevokeTokensResponse,
  type RotateSecretRequest__Input,
  type RotateSecretResponse,
  SecretServiceClient,
  type StageKeyRequest__Input,
  type StageKeyResponse,
} from './proto.ts';

/** Milliseconds a call may take when the caller does not say. */
export const DEFAULT_DEADLINE_MS = 30_000;

export interface UnaryCallOptions {
  /** Milliseconds until the call fails with DEADLINE_EXCEEDED. */
  deadlineMs?: number;
  /** Sent as `authorization: Bearer <token>` metadata. */
  bearer?: string;
  /** Sent as is (with the bearer added, if any). */
  metadata?: Metadata;
}

/** The part of a method definition a unary call needs; generated and loaded definitions both fit. */
export interface UnaryMethod<Request, Response> {
  path: string;
  requestSerialize: (request: Request) => Buffer;
  responseDeserialize: (bytes: Buffer) => Response;
}

/** Calls one unary method on `client`; resolves with the response or rejects with the ServiceError. */
export function unaryCall<Request, Response>(
  client: Client,
  method: UnaryMethod<Request, Response>,
  request: Request,
  options: UnaryCallOptions = {},
): Promise<Response> {
  const metadata = options.metadata?.clone() ?? new Metadata();
  if (options.bearer !== undefined) metadata.set('authorization', `Bearer ${options.bearer}`);
  const deadline = Date.now() + (options.deadlineMs ?? DEFAULT_DEADLINE_MS);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      { deadline },
      (error, response) => (error ? reject(error) : resolve(response as Response)),
    );
  });
}

/** SecretService's RPCs as promises over one channel. */
export interface SecretServiceConnection {
  /** The generated callback client, for what the promise methods do not cover. */
  readonly client: SecretServiceClient;
  rotateSecret(
    request: RotateSecretRequest__Input,
    options?: UnaryCallOptions,
  ): Promise<RotateSecretResponse>;
  getKeyset(request: GetKeysetRequest__Input, options?: UnaryCallOptions): Promise<GetKeysetResponse>;
  revokeKey(request: RevokeKeyRequest__Input, options?: UnaryCallOptions): Promise<RevokeKeyResponse>;
  stageKey(request: StageKeyRequest__Input, options?: UnaryCallOptions): Promise<StageKeyResponse>;
  promoteKey(request: PromoteKeyRequest__Input, options?: UnaryCallOptions): Promise<PromoteKeyResponse>;
  revokeTokens(
    request: RevokeTokensRequest__Input,
    options?: UnaryCallOptions,
  ): Promise<RevokeTokensResponse>;
  close(): void;
}

/** A SecretService client for `address` (host:port). */
export function connectSecretService(
  address: string,
  channelCredentials: ChannelCredentials,
  channelOptions?: ChannelOptions,
): SecretServiceConnection {
  const client = new SecretServiceClient(address, channelCredentials, channelOptions);
  const { service } = SecretServiceClient;
  return {
    client,
    rotateSecret: (request, options) => unaryCall(client, service.RotateSecret, request, options),
    getKeyset: (request, options) => unaryCall(client, service.GetKeyset, request, options),
    revokeKey: (request, options) => unaryCall(client, service.RevokeKey, request, options),
    stageKey: (request, options) => unaryCall(client, service.StageKey, request, options),
    promoteKey: (request, options) => unaryCall(client, service.PromoteKey, request, options),
    revokeTokens: (request, options) => unaryCall(client, service.RevokeTokens, request, options),
    close: () => client.close(),
  };
}
