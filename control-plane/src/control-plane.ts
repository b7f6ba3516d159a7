/** Wires the control plane from its configuration: storage, manager, pusher, scheduler, gRPC and HTTP. */
import { AdminAuth } from './admin-auth.ts';
import type { ControlPlaneConfig } from './config.ts';
import { EdgePusher } from './edge-pusher.ts';
import { startGrpcServer } from './grpc/grpc-server.ts';
import { SecretService } from './grpc/secret-service.ts';
import { createHttpApp, startHttpServer } from './http-server.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { RotationScheduler } from './rotation-scheduler.ts';
import { SecretManager } from './secret-manager.ts';
import { EnvStorage } from './storage/env-storage.ts';
import type { KeysetStorage } from './storage/keyset-storage.ts';
import { ValkeyStorage } from './storage/valkey-storage.ts';

export interface ControlPlane {
  grpcPort: number;
  httpPort: number;
  manager: SecretManager;
  pusher: EdgePusher;
  storage: KeysetStorage;
  /** Drains gRPC calls, stops timers and closes storage. */
  stop(): Promise<void>;
}

export async function startControlPlane(
  config: ControlPlaneConfig,
  logger: Logger = createLogger(config.logLevel),
) {
  const storage: KeysetStorage =
    config.storage === 'valkey'
      ? new ValkeyStorage({ url: config.valkeyUrl as string })
      : new EnvStorage(config.jwtSecret, config.jwtPreviousSecrets);
  if (storage instanceof ValkeyStorage) await storage.connect();

  const metrics = createMetrics();
  const manager = new SecretManager({
    storage,
    keysetKey: config.keysetKey,
    gracePeriodMs: config.gracePeriodMs,
    cacheTtlMs: config.keysetCacheTtlMs,
    onWarning: (message, error) => logger.warn({ cause: (error as Error | undefined)?.message }, message),
  });
  const pusher = new EdgePusher({
    urls: config.edgeUrls,
    onAttempt(target, ok) {
      metrics.pushAttempts.inc({ target });
      if (!ok) metrics.pushFailures.inc({ target });
    },
  });
  const push = async (stored: Parameters<EdgePusher['pushAll']>[0]) => {
    for (const edge of await pusher.pushAll(stored)) {
      // A push outcome's version is the edge's confirmed one, whether this push landed or not.
      metrics.edgeConfirmedVersion.set({ target: edge.url }, edge.version);
      if (!edge.confirmed)
        logger.warn(
          { edge: edge.url, error: edge.error, version: stored.keyset.version },
          'edge did not confirm the keyset',
        );
    }
  };
  manager.on('change', (stored) => {
    metrics.observeKeyset(stored.keyset);
    void push(stored);
  });

  const initial = await manager.start();
  metrics.observeKeyset(initial.keyset);
  logger.info(
    { storage: storage.kind, version: initial.keyset.version, kid: initial.keyset.keys[0]?.kid },
    'keyset loaded',
  );
  void push(initial);

  const scheduler =
    config.rotationIntervalMs === null
      ? null
      : new RotationScheduler({
          manager,
          storage,
          intervalMs: config.rotationIntervalMs,
          onRotated(stored) {
            metrics.rotations.inc({ kind: 'scheduled' });
            logger.info(
              { version: stored.keyset.version, kid: stored.keyset.keys[0]?.kid, scheduled: true },
              'Rotating JWT secret',
            );
          },
          onError: (error) =>
            logger.warn({ cause: (error as Error).message }, 'scheduled rotation check failed'),
        });
  scheduler?.start();

  const service = new SecretService({
    manager,
    auth: new AdminAuth(config.adminToken),
    logger,
    metrics,
    pusher,
  });
  const grpc = await startGrpcServer(service, {
    host: config.host,
    port: config.grpcPort,
    tlsCert: config.grpcTlsCert,
    tlsKey: config.grpcTlsKey,
  });
  const http = await startHttpServer(createHttpApp({ manager, pusher, metrics }), {
    host: config.host,
    port: config.httpPort,
  });
  logger.info(
    { grpc_port: grpc.port, http_port: http.port, tls: Boolean(config.grpcTlsCert) },
    'control plane listening',
  );

  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    manager,
    pusher,
    storage,
    async stop() {
      scheduler?.stop();
      pusher.stop();
      await grpc.shutdown();
      await http.close();
      await manager.stop();
      await storage.close();
    },
  } satisfies ControlPlane;
}
