/**
 * The real control plane (startControlPlane with a config from loadConfig, as main.ts does) with its rotation
 * schedule on and a FakeClock as its clock, a gRPC client over loopback, and its log lines kept. The schedule's
 * loop sleeps in real time up to an hour between looks, so a test makes each step with `scheduler.tick()`.
 */
import { randomBytes } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import { loadConfig } from '../../control-plane/src/config.ts';
import { type ControlPlane, startControlPlane } from '../../control-plane/src/control-plane.ts';
import {
  connectSecretService,
  type SecretServiceConnection,
} from '../../control-plane/src/grpc/secret-service-client.ts';
import { createLogger } from '../../control-plane/src/logger.ts';
import type { RotationScheduler } from '../../control-plane/src/rotation/rotation-scheduler.ts';
import type { FakeClock } from './fake-clock.ts';
import { KEYSET_KEY, KEYSET_SIGNING_KEY } from './keysets.ts';

export interface ScheduledControlPlane {
  controlPlane: ControlPlane;
  scheduler: RotationScheduler;
  grpcAddress: string;
  httpUrl: string;
  adminToken: string;
  client: SecretServiceConnection;
  /** Every log line the control plane wrote, parsed. */
  logs: Array<Record<string, unknown> & { msg: string; level: number }>;
  /** GET `path` on HTTP_PORT as JSON (/healthz) or text (/metrics). */
  httpJson(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  httpText(path: string): Promise<string>;
  stop(): Promise<void>;
}

export interface ScheduledOptions {
  /** A FakeClock, or the real one (`{ now: () => new Date() }`) to let the schedule's own loop make the steps. */
  clock: Pick<FakeClock, 'now'>;
  /** Valkey storage at this URL; env storage (in memory) without it. */
  valkeyUrl?: string;
  edgeUrls: string[];
  interval?: string;
  lead?: string;
  env?: Record<string, string>;
}

export async function startScheduledControlPlane(options: ScheduledOptions): Promise<ScheduledControlPlane> {
  const adminToken = randomBytes(48).toString('base64url');
  const config = loadConfig({
    ADMIN_TOKEN: adminToken,
    ...(options.valkeyUrl
      ? { SECRET_STORAGE: 'valkey', VALKEY_URL: options.valkeyUrl }
      : { SECRET_STORAGE: 'env', JWT_SECRET: randomBytes(48).toString('base64') }),
    KEYSET_KEY,
    KEYSET_SIGNING_KEY,
    EDGE_URLS: options.edgeUrls.join(','),
    ROTATION_INTERVAL: options.interval ?? '90d',
    ROTATION_LEAD: options.lead ?? '1h',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs: ScheduledControlPlane['logs'] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line)) });
  const controlPlane = await startControlPlane(config, logger, { now: options.clock.now });
  if (controlPlane.scheduler === null) throw new Error('the schedule is off');
  const grpcAddress = `127.0.0.1:${controlPlane.grpcPort}`;
  const httpUrl = `http://127.0.0.1:${controlPlane.httpPort}`;
  const client = connectSecretService(grpcAddress, credentials.createInsecure());
  return {
    controlPlane,
    scheduler: controlPlane.scheduler,
    grpcAddress,
    httpUrl,
    adminToken,
    client,
    logs,
    async httpJson(path) {
      const response = await fetch(`${httpUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async httpText(path) {
      const response = await fetch(`${httpUrl}${path}`, { signal: AbortSignal.timeout(10_000) });
      return response.text();
    },
    async stop() {
      client.close();
      await controlPlane.stop();
    },
  };
}

/** The value of an unlabelled sample `name` in a Prometheus text exposition (undefined when absent). */
export function metricValue(exposition: string, name: string): number | undefined {
  const line = exposition.split('\n').find((text) => text.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}
