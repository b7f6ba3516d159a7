/**
 * The gRPC server: SecretService, server reflection (v1 and v1alpha) and grpc.health.v1. Health follows the
 * control plane's readiness (readiness.ts): NOT_SERVING while storage is out of reach past KEYSET_CACHE_TTL or
 * no keyset is held, for the server as a whole ("") and for SecretService alike.
 */
import { readFileSync } from 'node:fs';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as HEALTH_PROTO, HealthImplementation } from 'grpc-health-check';
import { listenError } from '../listen-error.ts';
import { packageDefinition } from './proto.ts';
import type { SecretService } from './secret-service.ts';
import { MAX_REQUEST_BYTES, MAX_REQUEST_BYTES_BY_METHOD } from './strict-request-decoder.ts';
import { TlsIdentity } from './tls-identity.ts';

export { MAX_REQUEST_BYTES } from './strict-request-decoder.ts';

export interface GrpcServerHandle {
  server: Server;
  port: number;
  health: HealthImplementation;
  /** The certificate and key served, replaceable while listening; null without TLS. */
  tls: TlsIdentity | null;
  /** Stops taking calls, lets running ones finish (up to `graceMs`), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

const SECRET_SERVICE = 'cpc.orchestrator.SecretService';

/** Reports SERVING or NOT_SERVING for the server ("") and SecretService; Watch streams see each change. */
export function setServing(health: HealthImplementation, serving: boolean): void {
  const status = serving ? 'SERVING' : 'NOT_SERVING';
  health.setStatus('', status);
  health.setStatus(SECRET_SERVICE, status);
}

/** Binds on `host:port`; rejects with an error naming GRPC_PORT and the address when it cannot. */
export async function startGrpcServer(
  service: SecretService,
  options: {
    host: string;
    port: number;
    tlsCert?: string;
    tlsKey?: string;
    /** The health status at start: false reports NOT_SERVING until setServing says otherwise. */
    serving?: boolean;
  },
): Promise<GrpcServerHandle> {
  // The largest any method takes; each method's own limit is the strict decoder's (strict-request-decoder.ts).
  const server = new Server({
    'grpc.max_receive_message_length': Math.max(
      MAX_REQUEST_BYTES,
      ...Object.values(MAX_REQUEST_BYTES_BY_METHOD),
    ),
  });
  service.addToServer(server);
  // Both services described, so that grpcurl calls either without a .proto file.
  new ReflectionService({ ...packageDefinition, ...loadSync(HEALTH_PROTO) }).addToServer(server);
  const initial = options.serving === false ? 'NOT_SERVING' : 'SERVING';
  const health = new HealthImplementation({ '': initial, [SECRET_SERVICE]: initial });
  health.addToServer(server);
  const tls =
    options.tlsCert && options.tlsKey
      ? new TlsIdentity(readFileSync(options.tlsCert), readFileSync(options.tlsKey))
      : null;
  const credentials = tls ? tls.credentials() : ServerCredentials.createInsecure();
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port}`, credentials, (error, bound) => {
      if (!error) return resolve(bound);
      server.forceShutdown();
      reject(listenError('GRPC_PORT', options.host, options.port, error));
    }),
  );
  return {
    server,
    port,
    health,
    tls,
    shutdown(graceMs = 10_000) {
      setServing(health, false);
      return new Promise((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
