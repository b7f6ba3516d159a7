/**
 * The real control plane in this process (startControlPlane with a config from loadConfig, as main.ts does),
 * with a gRPC client over loopback and its log lines kept for assertions.
 */
import { randomBytes } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import { loadConfig } from '../../control-plane/src/config.ts';
import { type ControlPlane, startControlPlane } from '../../control-plane/src/control-plane.ts';
import type {
  GetKeysetResponse,
  RevokeTokensResponse,
  RotateSecretResponse,
} from '../../control-plane/src/grpc/proto.ts';
import { connectSecretService } from '../../control-plane/src/grpc/secret-service-client.ts';
import { createLogger } from '../../control-plane/src/logger.ts';
import { KEYSET_SIGNING_KEY } from './keysets.ts';

export interface Harness {
  controlPlane: ControlPlane;
  grpcAddress: string;
  httpUrl: string;
  /** The control plane's keyset endpoint, what edges get as KEYSET_URL. */
  keysetUrl: string;
  adminToken: string;
  /** Every log line the control plane wrote, raw JSON text. */
  logLines: string[];
  /** `emergency` expires every earlier secret at once instead of after the grace period. */
  rotate(newSecret: string, options?: { emergency?: boolean }): Promise<RotateSecretResponse>;
  getKeyset(): Promise<GetKeysetResponse>;
  /** RevokeTokens with the admin token. */
  revokeTokens(jtis: string[], subject?: string): Promise<RevokeTokensResponse>;
  /** The envelope served at GET /keyset right now. */
  fetchEnvelope(): Promise<string>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Omit when `env` names the Sentinels or Cluster nodes instead. */
  valkeyUrl?: string;
  keysetKey: string;
  /** KEYSET_SIGNING_KEY; the test one (keysets.ts) unless given. */
  signingKey?: string;
  edgeUrls?: string[];
  gracePeriod?: string;
  /** 0 for any; a fixed port so that edges keep the same KEYSET_URL across a restart. */
  httpPort?: number;
  grpcPort?: number;
  adminToken?: string;
  /** More configuration variables (VALKEY_SENTINELS, VALKEY_MIN_REPLICAS, ...). */
  env?: Record<string, string>;
}

const RPC_DEADLINE_MS = 15_000;

export function newAdminToken(): string {
  return randomBytes(48).toString('base64url');
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const adminToken = options.adminToken ?? newAdminToken();
  const config = loadConfig({
    ADMIN_TOKEN: adminToken,
    SECRET_STORAGE: 'valkey',
    VALKEY_URL: options.valkeyUrl,
    KEYSET_KEY: options.keysetKey,
    KEYSET_SIGNING_KEY: options.signingKey ?? KEYSET_SIGNING_KEY,
    EDGE_URLS: (options.edgeUrls ?? []).join(','),
    GRACE_PERIOD: options.gracePeriod ?? '24h',
    ROTATION_INTERVAL: 'off',
    GRPC_PORT: String(options.grpcPort ?? 0),
    HTTP_PORT: String(options.httpPort ?? 0),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const logLines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
  const controlPlane = await startControlPlane(config, logger);
  const grpcAddress = `127.0.0.1:${controlPlane.grpcPort}`;
  const client = connectSecretService(grpcAddress, credentials.createInsecure());
  const httpUrl = `http://127.0.0.1:${controlPlane.httpPort}`;

  return {
    controlPlane,
    grpcAddress,
    httpUrl,
    keysetUrl: `${httpUrl}/keyset`,
    adminToken,
    logLines,
    rotate: (newSecret, rotateOptions = {}) =>
      client.rotateSecret(
        { admin_token: adminToken, new_secret: newSecret, emergency: rotateOptions.emergency ?? false },
        { deadlineMs: RPC_DEADLINE_MS },
      ),
    getKeyset: () => client.getKeyset({ admin_token: adminToken }, { deadlineMs: RPC_DEADLINE_MS }),
    revokeTokens: (jtis, subject = '') =>
      client.revokeTokens({ admin_token: adminToken, jtis, subject }, { deadlineMs: RPC_DEADLINE_MS }),
    async fetchEnvelope() {
      const response = await fetch(`${httpUrl}/keyset`, { signal: AbortSignal.timeout(5_000) });
      if (response.status !== 200) throw new Error(`GET /keyset answered ${response.status}`);
      return response.text();
    },
    async stop() {
      client.close();
      await controlPlane.stop();
    },
  };
}
