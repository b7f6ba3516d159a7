/**
 * The control plane's HTTP side on HTTP_PORT: `GET /keyset` (the envelope, with ETag, for edges that pull),
 * `GET /.well-known/jwks.json` (the public keys, for JWKS clients), `GET /healthz` (keyset and per-edge push
 * state), `GET /revocations?since=N` (the revocation list above serial N, for edges that pull), `POST /edges`
 * (edges registering themselves), `GET /livez` and `GET /readyz` (probes), `GET /metrics` (Prometheus) and the
 * operator dashboard under `/dashboard/` (dashboard/dashboard-routes.ts: its data behind the admin token).
 */
import { createHash } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { JWKS_MAX_AGE_CAP_S, JwksCache, jwksMaxAgeS, matchesIfNoneMatch } from '../../shared/jwks.ts';
import { findActiveKey } from '../../shared/keyset.ts';
import { type DashboardDeps, mountDashboard } from './dashboard/dashboard-routes.ts';
import type { KeysetManager } from './keyset/keyset-manager.ts';
import { listenError } from './listen-error.ts';
import type { ControlPlaneMetrics } from './metrics.ts';
import { type EdgePusher, edgeTargetReport } from './push/edge-pusher.ts';
import type { EdgeRegistry } from './push/edge-registry.ts';
import { type Readiness, readinessOf } from './readiness.ts';
import type { RevocationLog } from './revocation/revocation-log.ts';
import type { RotationStatus } from './rotation/rotation-status.ts';

export function createHttpApp(deps: {
  manager: KeysetManager;
  pusher?: EdgePusher;
  metrics?: ControlPlaneMetrics;
  /** The revocation list (GET /revocations); absent: not served. */
  revocations?: RevocationLog;
  /** Edges registering themselves (POST /edges); absent: not served. */
  registry?: EdgeRegistry;
  /** KEYSET_CACHE_TTL: the JWK Set is cached no longer than this (nor than JWKS_MAX_AGE_CAP_S). */
  cacheTtlMs?: number;
  now?: () => Date;
  /** The scheduled rotation as this replica sees it: /healthz's `rotation`. */
  rotation?: () => Promise<RotationStatus>;
  /** Readiness now (readiness.ts): GET /readyz. Without it, /readyz judges from the manager alone. */
  readiness?: () => Promise<Readiness>;
  /** The operator dashboard; without it /dashboard/ is not served. */
  dashboard?: DashboardDeps;
}): Hono {
  const app = new Hono();
  const now = deps.now ?? (() => new Date());
  const jwksCacheControl = `public, max-age=${jwksMaxAgeS(deps.cacheTtlMs ?? JWKS_MAX_AGE_CAP_S * 1000)}`;
  const jwksCache = new JwksCache();
  // Public keys only (never HS256, never `d`): unauthenticated, like any issuer's JWKS.
  app.get('/.well-known/jwks.json', async (c) => {
    const { keyset } = await deps.manager.keyset();
    const { body, etag } = await jwksCache.of(keyset, now());
    c.header('ETag', etag);
    c.header('Cache-Control', jwksCacheControl);
    if (matchesIfNoneMatch(c.req.header('if-none-match'), etag)) return c.body(null, 304);
    return c.body(body, 200, { 'content-type': 'application/json' });
  });
  app.get('/keyset', async (c) => {
    const { envelope } = await deps.manager.keyset();
    // Storage unreachable past KEYSET_CACHE_TTL: a 200 or 304 would tell an edge that this is still the keyset,
    // and count as confirmation there, so its KEYSET_MAX_STALENESS would never fire however long this lasts.
    if (deps.manager.staleBeyondTtl) {
      c.header('Cache-Control', 'no-store');
      return c.json({ error: 'keyset storage unreachable for longer than KEYSET_CACHE_TTL' }, 503);
    }
    if (envelope === null)
      return c.json({ error: 'no KEYSET_SIGNING_KEY configured: no envelope to serve' }, 404);
    const etag = envelopeEtag(envelope);
    c.header('ETag', etag);
    c.header('Cache-Control', 'no-cache');
    if (c.req.header('if-none-match') === etag) return c.body(null, 304);
    return c.body(envelope, 200, { 'content-type': 'application/jose' });
  });
  // Signed, not secret (jtis and subjects, never key material): unauthenticated like GET /keyset.
  app.get('/revocations', async (c) => {
    const log = deps.revocations;
    c.header('Cache-Control', 'no-store');
    if (log === undefined || !log.enabled) {
      return c.json({ error: 'no KEYSET_SIGNING_KEY configured: no revocation list to serve' }, 404);
    }
    const since = c.req.query('since') ?? '0';
    if (!/^\d{1,15}$/.test(since)) {
      return c.json({ error: 'since must be the revocation serial the edge holds (a whole number)' }, 400);
    }
    let document: string | undefined;
    try {
      document = await log.since(Number(since));
    } catch {
      return c.json({ error: 'revocation storage unreachable' }, 503);
    }
    if (document === undefined) return c.body(null, 304);
    return c.body(document, 200, { 'content-type': 'application/jose' });
  });
  // An edge announces the URL it is reached at (EDGE_REGISTRATION_TOKEN), and renews it before EDGE_LEASE passes.
  app.post(
    '/edges',
    bodyLimit({ maxSize: 4096, onError: (c) => c.json({ error: 'registration body over 4 KiB' }, 413) }),
    async (c) => {
      c.header('Cache-Control', 'no-store');
      const registry = deps.registry;
      if (registry === undefined || !registry.enabled)
        return c.json({ error: 'edge registration is off' }, 404);
      const outcome = await registry.register(c.req.header('authorization'), () => c.req.json());
      if (!outcome.ok) return c.json({ error: outcome.error }, outcome.status);
      return c.json({ lease_s: outcome.leaseS });
    },
  );
  app.get('/healthz', async (c) => {
    try {
      const { keyset } = await deps.manager.keyset();
      const active = findActiveKey(keyset);
      return c.json({
        status: 'ok',
        storage: deps.manager.storageKind,
        keyset_version: keyset.version,
        active_kid: active?.kid,
        active_age_s: active ? Math.round((Date.now() - Date.parse(active.created_at)) / 1000) : null,
        edges: (deps.pusher?.targets ?? []).map(edgeTargetReport),
        rotation: (await deps.rotation?.()) ?? null,
      });
    } catch {
      return c.json({ status: 'unavailable' }, 503);
    }
  });
  // Liveness: the process serves requests (this answer runs on its event loop). No dependency is checked: a
  // restart does not bring Valkey back, so storage trouble belongs to readiness.
  app.get('/livez', (c) => c.json({ status: 'ok' }, 200, { 'cache-control': 'no-store' }));
  app.get('/readyz', async (c) => {
    const readiness = await (deps.readiness ?? (() => readinessOf(deps.manager)))();
    c.header('Cache-Control', 'no-store');
    if (readiness.ready) return c.json({ status: 'ready' }, 200);
    return c.json({ status: 'not_ready', reasons: readiness.reasons }, 503);
  });
  app.get('/metrics', async (c) => {
    if (!deps.metrics) return c.notFound();
    return c.body(await deps.metrics.registry.metrics(), 200, {
      'content-type': deps.metrics.registry.contentType,
    });
  });
  if (deps.dashboard) mountDashboard(app, deps.dashboard);
  return app;
}

/**
 * The ETag of an envelope: a hash of its bytes, quoted. Not the version: after a restore from a backup one
 * version number can name two keysets, and a 304 must only ever vouch for the exact envelope the edge holds.
 */
export function envelopeEtag(envelope: string): string {
  return `"${createHash('sha256').update(envelope).digest('base64url')}"`;
}

/**
 * Listens on `host:port`; rejects with an error naming HTTP_PORT and the address (for example
 * "HTTP_PORT 8080 on 0.0.0.0: address in use (EADDRINUSE)") when it cannot.
 */
export function startHttpServer(
  app: Hono,
  options: { host: string; port: number },
): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info) => {
      server.off('error', failed);
      resolve({
        port: info.port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
    // Without a listener a listen error is thrown from the event loop: a crash with a stack, and this
    // promise never settles.
    function failed(error: Error) {
      reject(listenError('HTTP_PORT', options.host, options.port, error));
    }
    server.once('error', failed);
  });
}
