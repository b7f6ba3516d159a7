/** Wires the control plane from its configuration: storage, manager, pusher, scheduler, gRPC and HTTP. */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { AdminAuth } from './admin-auth.ts';
import type { ControlPlaneConfig } from './config.ts';
import { EdgePusher } from './edge-pusher.ts';
import { StorageUnavailableError } from './errors.ts';
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
  const valkeyTls = config.valkeyTlsCa ? { ca: readFileSync(config.valkeyTlsCa) } : undefined;
  const storage: KeysetStorage =
    config.storage === 'valkey'
      ? new ValkeyStorage({ url: config.valkeyUrl as string, tls: valkeyTls })
      : new EnvStorage(config.jwtSecret, config.jwtPreviousSecrets);
  if (storage instanceof ValkeyStorage) {
    try {
      await storage.connect();
    } catch (error) {
      // The client keeps reconnecting in the background: stop it, or a failed start never exits.
      await storage.close();
      throw await explainConnectFailure(config, error);
    }
  }

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
  // Every replica pushes each newer version it comes to hold, whoever wrote it: the writer's own push is lost
  // when it crashes or its storage reply is lost after the commit. Once per version per replica; edges answer
  // 200 for a version they hold and 409 for an older one, so the duplicates change nothing.
  let started = false;
  let pushedVersion = 0;
  const pushIfNewer = (stored: Parameters<EdgePusher['pushAll']>[0]) => {
    if (stored.keyset.version <= pushedVersion) return;
    pushedVersion = stored.keyset.version;
    void push(stored);
  };
  manager.on('installed', (stored) => {
    metrics.observeKeyset(stored.keyset);
    // Not during start: a keyset about to be re-sealed (KEYSET_KEY changed) would only be refused.
    if (started) pushIfNewer(stored);
  });

  let scheduler: RotationScheduler | null = null;
  let grpc: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  try {
    const initial = await manager.start();
    started = true;
    metrics.observeKeyset(initial.keyset);
    logger.info(
      { storage: storage.kind, version: initial.keyset.version, kid: initial.keyset.keys[0]?.kid },
      'keyset loaded',
    );
    pushIfNewer(initial);

    scheduler =
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
    grpc = await startGrpcServer(service, {
      host: config.host,
      port: config.grpcPort,
      tlsCert: config.grpcTlsCert,
      tlsKey: config.grpcTlsKey,
    });
    http = await startHttpServer(createHttpApp({ manager, pusher, metrics }), {
      host: config.host,
      port: config.httpPort,
    });
  } catch (error) {
    // A failed start must not leave the Valkey connections, the subscriber or the timers running.
    scheduler?.stop();
    pusher.stop();
    await grpc?.shutdown(0);
    await manager.stop();
    await storage.close();
    throw error;
  }
  logger.info(
    { grpc_port: grpc.port, http_port: http.port, tls: Boolean(config.grpcTlsCert) },
    'control plane listening',
  );

  const servers = { grpc, http };
  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    manager,
    pusher,
    storage,
    async stop() {
      scheduler?.stop();
      // The pusher stops after the drain: a RotateSecret still running commits, then pushes.
      await servers.grpc.shutdown();
      pusher.stop();
      await servers.http.close();
      await manager.stop();
      await storage.close();
    },
  } satisfies ControlPlane;
}

/**
 * Turns a failed first connection into a message an operator can act on. The Valkey client reports a failed
 * TLS handshake only as "Connection is closed", so for rediss:// one handshake is tried here to name the
 * reason (an untrusted CA, most often). The URL is shown without its credentials.
 */
async function explainConnectFailure(config: ControlPlaneConfig, error: unknown): Promise<Error> {
  let reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
  const url = URL.parse(config.valkeyUrl as string);
  if (url === null)
    return new StorageUnavailableError(`Cannot connect to VALKEY_URL: ${reason}`, { cause: error });
  const where = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  if (url.protocol === 'rediss:') {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const handshake = await tryTlsHandshake(host, Number(url.port || 6379), config.valkeyTlsCa);
    if (handshake?.stage === 'tcp') reason = handshake.reason;
    if (handshake?.stage === 'tls') {
      const hint = config.valkeyTlsCa
        ? "is VALKEY_TLS_CA the CA that signed Valkey's certificate?"
        : "set VALKEY_TLS_CA to the PEM file of the CA that signed Valkey's certificate";
      reason = `TLS handshake failed: ${handshake.reason} (${hint})`;
    }
  }
  return new StorageUnavailableError(`Cannot connect to Valkey at ${where}: ${reason}`, { cause: error });
}

/** Why a TLS connection fails, and whether it got as far as TCP; null when the handshake succeeds. */
function tryTlsHandshake(
  host: string,
  port: number,
  caPath: string | undefined,
): Promise<{ stage: 'tcp' | 'tls'; reason: string } | null> {
  return new Promise((resolve) => {
    const socket = connectTls({
      host,
      port,
      ...(caPath ? { ca: readFileSync(caPath) } : {}),
      ...(isIP(host) ? {} : { servername: host }),
    });
    let connected = false;
    const done = (outcome: { stage: 'tcp' | 'tls'; reason: string } | null) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.once('connect', () => {
      connected = true;
    });
    socket.setTimeout(2_000, () => done(null));
    socket.once('secureConnect', () => done(null));
    socket.once('error', (failure: NodeJS.ErrnoException) =>
      done({
        stage: connected ? 'tls' : 'tcp',
        reason: failure.code ? `${failure.message} (${failure.code})` : failure.message,
      }),
    );
  });
}
