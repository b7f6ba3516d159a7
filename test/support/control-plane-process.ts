/**
 * The control plane's entry (`control-plane/src/main.ts`) as its own process on free loopback ports, with
 * Valkey storage and a gRPC client: for measurements that read its memory from /proc, which an in-process
 * harness would share with the load generator.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import type {
  PromoteKeyRequest,
  PromoteKeyResponse,
  RevokeTokensRequest,
  RevokeTokensResponse,
  RotateSecretRequest,
  RotateSecretResponse,
  StageKeyRequest,
  StageKeyResponse,
} from '../../control-plane/src/grpc/proto.ts';
import { SecretServiceClient } from '../../control-plane/src/grpc/proto.ts';
import { KEYSET_SIGNING_KEY } from './keysets.ts';
import { type ManagedProcess, startProcess } from './managed-process.ts';
import { waitForOutput } from './wait-for-output.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ControlPlaneProcess {
  process: ManagedProcess;
  /** The control plane's http://127.0.0.1:HTTP_PORT/keyset, what edges get as KEYSET_URL. */
  keysetUrl: string;
  /** http://127.0.0.1:HTTP_PORT: GET /revocations?since=N and the rest of the HTTP port. */
  httpUrl: string;
  /** RotateSecret with this process's admin token. */
  rotate(request: Partial<RotateSecretRequest>): Promise<RotateSecretResponse>;
  /** RotateSecret with the admin token given (for a process started with `adminTokenFile`). */
  rotateAs(adminToken: string, request: Partial<RotateSecretRequest>): Promise<RotateSecretResponse>;
  /** StageKey with this process's admin token. */
  stage(request: Partial<StageKeyRequest>): Promise<StageKeyResponse>;
  /** PromoteKey with this process's admin token. */
  promote(request: Partial<PromoteKeyRequest>): Promise<PromoteKeyResponse>;
  /** RevokeTokens with this process's admin token. */
  revokeTokens(jtis: string[], subject?: string): Promise<RevokeTokensResponse>;
  stop(): Promise<void>;
}

const LISTENING = /^.*control plane listening.*$/m;

export async function startControlPlaneProcess(options: {
  /** Omit when `env` names the Sentinels or Cluster nodes instead. */
  valkeyUrl?: string;
  /** KEYSET_KEY; left out, the control plane runs without one (public keys only, SPEC section 9). */
  keysetKey?: string;
  /** KEYSET_SIGNING_KEY; the test one (keysets.ts) unless given. */
  signingKey?: string;
  edgeUrls: string[];
  gracePeriod: string;
  /** ADMIN_TOKEN_FILE instead of a generated ADMIN_TOKEN: the caller writes the file (and SIGHUPs). */
  adminTokenFile?: string;
  /** More configuration variables (PUSH_CONCURRENCY, VALKEY_SENTINELS, VALKEY_MIN_REPLICAS, ...), over the ones set here. */
  env?: Record<string, string>;
}): Promise<ControlPlaneProcess> {
  const adminToken = randomBytes(48).toString('base64url');
  const tokenVariable =
    options.adminTokenFile === undefined
      ? { ADMIN_TOKEN: adminToken }
      : { ADMIN_TOKEN_FILE: options.adminTokenFile };
  const child = startProcess('control plane', process.execPath, [join(ROOT, 'control-plane/src/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...tokenVariable,
      ...(options.valkeyUrl === undefined ? {} : { VALKEY_URL: options.valkeyUrl }),
      SECRET_STORAGE: 'valkey',
      ...(options.keysetKey === undefined ? {} : { KEYSET_KEY: options.keysetKey }),
      KEYSET_SIGNING_KEY: options.signingKey ?? KEYSET_SIGNING_KEY,
      EDGE_URLS: options.edgeUrls.join(','),
      GRACE_PERIOD: options.gracePeriod,
      ROTATION_INTERVAL: 'off',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...options.env,
    },
  });
  const line = (await waitForOutput(child, LISTENING))[0];
  const grpcPort = /"grpc_port":(\d+)/.exec(line)?.[1];
  const httpPort = /"http_port":(\d+)/.exec(line)?.[1];
  if (grpcPort === undefined || httpPort === undefined) {
    await child.stop();
    throw new Error(`control plane: no ports in its listening line: ${line}`);
  }
  const client = new SecretServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  const call = client.RotateSecret.bind(client) as (
    request: Partial<RotateSecretRequest>,
    callback: (error: Error | null, response: RotateSecretResponse) => void,
  ) => void;
  const rotateAs = (token: string, request: Partial<RotateSecretRequest>) =>
    new Promise<RotateSecretResponse>((resolve, reject) =>
      call({ admin_token: token, ...request }, (error, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
  const unary =
    <Request, Response>(method: 'StageKey' | 'PromoteKey' | 'RevokeTokens') =>
    (request: Partial<Request>) =>
      new Promise<Response>((resolve, reject) =>
        (
          client[method].bind(client) as unknown as (
            request: Partial<Request> & { admin_token: string },
            callback: (error: Error | null, response: Response) => void,
          ) => void
        )({ admin_token: adminToken, ...request }, (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      );
  return {
    process: child,
    keysetUrl: `http://127.0.0.1:${httpPort}/keyset`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    rotate: (request) => rotateAs(adminToken, request),
    rotateAs,
    stage: unary<StageKeyRequest, StageKeyResponse>('StageKey'),
    promote: unary<PromoteKeyRequest, PromoteKeyResponse>('PromoteKey'),
    revokeTokens: (jtis, subject = '') =>
      unary<RevokeTokensRequest, RevokeTokensResponse>('RevokeTokens')({ jtis, subject }),
    async stop() {
      client.close();
      await child.stop();
    },
  };
}
