/** Wires the control plane from its configuration: storage, manager, pusher, scheduler, gRPC and HTTP. */

import { findActiveKey } from '../../shared/keyset.ts';
import { AdminAuth } from './admin-auth.ts';
import type { ControlPlaneConfig } from './config.ts';
import { DashboardFeed } from './dashboard/dashboard-feed.ts';
import { dashboardState } from './dashboard/dashboard-state.ts';
import { setServing, startGrpcServer } from './grpc/grpc-server.ts';
import { SecretService } from './grpc/secret-service.ts';
import type { TlsIdentity } from './grpc/tls-identity.ts';
import { createHttpApp, startHttpServer } from './http-server.ts';
import { KeysetManager } from './keyset/keyset-manager.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { EdgePusher } from './push/edge-pusher.ts';
import { EdgeRegistry } from './push/edge-registry.ts';
import { pushNewerVersions } from './push/push-policy.ts';
import { createPushTransport, type PushTransport } from './push/push-transport.ts';
import { ReadinessMonitor } from './readiness.ts';
import { RevocationLog } from './revocation/revocation-log.ts';
import { registerRevocationMetrics } from './revocation/revocation-metrics.ts';
import { RevocationPusher } from './revocation/revocation-pusher.ts';
import { registerRotationMetrics } from './rotation/rotation-metrics.ts';
import { RotationScheduler } from './rotation/rotation-scheduler.ts';
import { ROTATION_OFF } from './rotation/rotation-status.ts';
import { reportEvictionPolicies } from './storage/eviction-policy.ts';
import type { KeysetStorage } from './storage/keyset-storage.ts';
import { openStorage } from './storage/open-storage.ts';
import { ValkeyStorage } from './storage/valkey-storage.ts';

export interface ControlPlane {
  grpcPort: number;
  httpPort: number;
  manager: KeysetManager;
  pusher: EdgePusher;
  /** The keep-alive HTTP transport pushes to edges travel on; for any other push path to share. */
  pushTransport: PushTransport;
  storage: KeysetStorage;
  /** Null with ROTATION_INTERVAL=off. */
  scheduler: RotationScheduler | null;
  /** The admin token check; a reload (SIGHUP) replaces its tokens. */
  adminAuth: AdminAuth;
  /** The gRPC server's TLS identity, replaceable while listening (SIGHUP); null without TLS. */
  grpcTls: TlsIdentity | null;
  /** Drains gRPC calls, stops timers and closes storage. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The one clock keys are dated and the schedule is kept by (tests drive a scheduled rotation with their own). */
  now?: () => Date;
}

export async function startControlPlane(
  config: ControlPlaneConfig,
  logger: Logger = createLogger(config.logLevel),
  options: StartOptions = {},
) {
  const storage = await openStorage(config);
  // A shared Valkey that evicts any key under memory pressure could drop the keyset: warn at start-up.
  if (storage instanceof ValkeyStorage) reportEvictionPolicies(await storage.evictionPolicies(), logger);
  const now = options.now ?? (() => new Date());

  const metrics = createMetrics();
  const adminAuth = new AdminAuth(config.adminToken);
  // Open dashboards get a snapshot on every change this process hears of.
  const dashboardFeed = new DashboardFeed();
  const manager = new KeysetManager({
    storage,
    now,
    keysetKey: config.keysetKey,
    signingKey: config.keysetSigningKey,
    gracePeriodMs: config.gracePeriodMs,
    cacheTtlMs: config.keysetCacheTtlMs,
    onWarning: (message, error) => logger.warn({ cause: (error as Error | undefined)?.message }, message),
  });
  const pushTransport = createPushTransport();
  const pusher = new EdgePusher({
    urls: config.edgeUrls,
    transport: pushTransport,
    concurrency: config.pushConcurrency,
    timeoutMs: config.pushTimeoutMs,
    budgetMs: config.pushBudgetMs,
    onAttempt(target, ok, durationMs) {
      metrics.pushAttempts.inc({ target });
      if (!ok) metrics.pushFailures.inc({ target });
      metrics.pushAttemptDuration.observe({ outcome: ok ? 'ok' : 'failed' }, durationMs / 1000);
      dashboardFeed.notify();
    },
    moveAbove(reported, pushed) {
      logger.warn(
        { reported, pushed: pushed.keyset.version },
        'an edge holds another keyset at or above the pushed version: writing the keyset again above it',
      );
      return manager.moveAbove(reported, pushed.keyset.version);
    },
  });
  const revocations = new RevocationLog({
    storage,
    signingKey: config.keysetSigningKey,
    ttlMs: config.revocationTtlMs,
    now,
    onWarning: (message, error) => logger.warn({ cause: (error as Error | undefined)?.message }, message),
    onFold: ({ serial, deltas, bytes, durationMs }) =>
      logger.info(
        { serial, deltas, bytes, duration_ms: Math.round(durationMs) },
        'revocation deltas folded into a snapshot',
      ),
  });
  const revocationPusher = new RevocationPusher({
    urls: () => registry.targets,
    log: revocations,
    transport: pushTransport,
    timeoutMs: config.pushTimeoutMs,
    concurrency: config.pushConcurrency,
    onAttempt(target, ok) {
      metrics.pushAttempts.inc({ target });
      if (!ok) metrics.pushFailures.inc({ target });
      dashboardFeed.notify();
    },
  });
  registerRevocationMetrics(metrics.registry, revocations, revocationPusher);
  const registry = new EdgeRegistry({
    storage,
    staticUrls: config.edgeUrls,
    token: config.edgeRegistrationToken,
    leaseMs: config.edgeLeaseMs,
    onTargets(urls, added) {
      pusher.syncTargets(urls);
      if (added.length === 0) return;
      logger.info({ added: added.length, targets: urls.length }, 'edges registered: pushing to them');
      // Everything an edge needs, at once: the keyset and the revocations (edges already holding them answer
      // with their version and cost one small request each).
      manager.keyset().then(
        (stored) => pusher.pushAll(stored),
        () => {},
      );
      revocations.current().then(
        (state) => revocationPusher.pushAll(state),
        () => {},
      );
    },
    onError: (error) => logger.warn({ cause: error.message }, 'registered edges not read'),
  });
  manager.on('installed', (stored) => {
    metrics.observeKeyset(stored.keyset);
    dashboardFeed.notify();
  });
  metrics.observeEdges(() => pusher.targets);
  const pushes = pushNewerVersions({ manager, pusher, metrics, logger });

  let scheduler: RotationScheduler | null = null;
  const rotationStatus = () => scheduler?.status() ?? Promise.resolve(ROTATION_OFF);
  registerRotationMetrics(metrics.registry, rotationStatus);
  const readiness = new ReadinessMonitor({ manager });
  metrics.observeStorage(() => readiness.last);
  let grpc: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  let http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  try {
    const initial = await manager.start();
    metrics.observeKeyset(initial.keyset);
    logger.info(
      { storage: storage.kind, version: initial.keyset.version, kid: findActiveKey(initial.keyset)?.kid },
      'keyset loaded',
    );
    pushes.start(initial);
    await registry.start();
    // Edges that restarted since hold no revocations: each gets what it is missing (nothing, for most).
    if (revocations.enabled && config.edgeUrls.length > 0) {
      revocations.current().then(
        (state) => revocationPusher.pushAll(state),
        (error: Error) => logger.warn({ cause: error.message }, 'revocation list not read at start'),
      );
    }

    scheduler =
      config.rotationIntervalMs === null
        ? null
        : new RotationScheduler({
            manager,
            storage,
            now,
            intervalMs: config.rotationIntervalMs,
            leadMs: config.rotationLeadMs,
            pusher,
            logger,
            metrics,
          });
    scheduler?.start();

    const service = new SecretService({
      manager,
      auth: adminAuth,
      logger,
      metrics,
      pusher,
      rotationStatus,
      revocations,
      revocationPusher,
    });
    const ready = (await readiness.check()).ready;
    grpc = await startGrpcServer(service, {
      host: config.host,
      port: config.grpcPort,
      tlsCert: config.grpcTlsCert,
      tlsKey: config.grpcTlsKey,
      serving: ready,
    });
    const health = grpc.health;
    // Only on a flip: Watch streams get one message per setStatus, even when the status stays the same.
    let serving = ready;
    readiness.on('change', (now) => {
      if (now.ready === serving) return;
      serving = now.ready;
      setServing(health, serving);
    });
    await readiness.start();
    http = await startHttpServer(
      createHttpApp({
        manager,
        pusher,
        metrics,
        revocations,
        registry,
        cacheTtlMs: config.keysetCacheTtlMs,
        now,
        rotation: rotationStatus,
        readiness: () => readiness.check(),
        dashboard: {
          auth: adminAuth,
          feed: dashboardFeed,
          state: () =>
            dashboardState({
              keyset: () => manager.keyset(),
              staleBeyondTtl: () => manager.staleBeyondTtl,
              storageKind: storage.kind,
              edges: () => pusher.targets,
              rotation: rotationStatus,
              auditTail: storage.auditTail?.bind(storage),
              now,
            }),
          // As gRPC's admin calls: an access-log line and keyward_admin_calls_total, refusals included.
          onAccess({ peer, call, outcome }) {
            metrics.adminCalls.inc({ rpc: call, outcome });
            logger.info({ access: true, peer, rpc: call, outcome }, 'admin call');
          },
        },
      }),
      {
        host: config.host,
        port: config.httpPort,
      },
    );
  } catch (error) {
    // A failed start must not leave the Valkey connections, the subscriber or the timers running.
    readiness.stop();
    scheduler?.stop();
    registry.stop();
    pusher.stop();
    revocationPusher.stop();
    dashboardFeed.stop();
    pushTransport.close();
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
    pushTransport,
    storage,
    scheduler,
    adminAuth,
    grpcTls: grpc.tls,
    async stop() {
      // Before the drain, which reports NOT_SERVING: a later check must not report SERVING again.
      readiness.stop();
      scheduler?.stop();
      registry.stop();
      // The pusher stops after the drain: a RotateSecret still running commits, then pushes.
      await servers.grpc.shutdown();
      pusher.stop();
      revocationPusher.stop();
      // Open dashboard streams would hold the HTTP server's close.
      dashboardFeed.stop();
      pushTransport.close();
      await servers.http.close();
      await manager.stop();
      // A snapshot being written finishes first (stopping it half-way would lose nothing, but cost the work).
      await revocations.settled();
      await storage.close();
    },
  } satisfies ControlPlane;
}
