/** The edge's HTTP surface (SPEC section 6) as a Hono app; /verify itself is the transport-free VerifyProtocol. */
import type { Context } from 'hono';
import { HonoBase as Hono } from 'hono/hono-base';
import { TrieRouter } from 'hono/router/trie-router';
import { JwksCache, matchesIfNoneMatch } from '../../../shared/jwks.ts';
import type { RevocationSet } from '../../../shared/revocations.ts';
import type { KeysetStore } from '../keyset/keyset-store.ts';
import type { KeysetSync } from '../keyset/keyset-sync.ts';
import { type ErrorAnswer, INTERNAL_ERROR } from './error-answers.ts';
import type { KeysetPushProtocol } from './keyset-push.ts';
import { accessLine, type EdgeMetrics, METRICS_CONTENT_TYPE } from './metrics-answer.ts';
import { readBodyText } from './read-body.ts';
import type { RevocationsPushProtocol } from './revocations-push.ts';
import type { VerifyProtocol } from './verify-protocol.ts';

export interface AppParts {
  store: KeysetStore;
  sync: KeysetSync;
  /** The held revocations (read for /healthz, /metrics and PUT /keyset's answer). */
  revocations: RevocationSet;
  verify: VerifyProtocol;
  /** PUT /keyset. */
  keysetPush: KeysetPushProtocol;
  /** PUT /revocations. */
  revocationsPush: RevocationsPushProtocol;
  /** The verified-token cache's counters in this isolate; undefined when VERIFY_CACHE_SIZE is 0. */
  cacheStats: () => { hits: number; misses: number; size: number } | undefined;
  now: () => number;
  log: (message: string) => void;
  /** Cache-Control max-age of the JWK Set, in seconds. */
  jwksMaxAgeS: number;
  metrics: EdgeMetrics;
  /** GET /metrics is served (EDGE_METRICS). */
  serveMetrics: boolean;
  /** ACCESS_LOG: one line per request through `log` (/verify's own come from VerifyProtocol). */
  accessLog: boolean;
}

/** What a handler tells the access log and the counters: the error code it answered, or its own outcome. */
type AppEnv = { Variables: { outcome: string } };

export function createApp(parts: AppParts): Hono<AppEnv> {
  const { store, sync, revocations, verify, metrics } = parts;
  // The trie router alone: the default preset bundles it with the RegExp router too (the same matches, more
  // bytes in the Worker); the tiny preset's pattern router would also take `/verify/` for `/verify`.
  const app = new Hono<AppEnv>({ router: new TrieRouter() });

  if (parts.accessLog) {
    app.use('*', async (c, next) => {
      const method = c.req.method;
      // VerifyProtocol logs /verify itself, and the push protocols PUT /keyset and PUT /revocations, on the
      // Node entry's direct paths too.
      const path = c.req.path;
      if (path === '/verify' && (method === 'GET' || method === 'POST' || method === 'HEAD')) return next();
      if (method === 'PUT' && (path === '/keyset' || path === '/revocations')) return next();
      const startedAt = performance.now();
      await next();
      const durationMs = performance.now() - startedAt;
      parts.log(accessLine(method, c.req.path, c.res.status, c.get('outcome'), durationMs));
    });
  }

  app.on(['GET', 'POST'], '/verify', async (c) => {
    const answer = await verify.answer({
      // Hono answers HEAD with the GET route.
      method: c.req.method === 'POST' ? 'POST' : 'GET',
      authorization: c.req.header('authorization'),
      readBody: (max) => readBodyText(c.req.raw, max),
      background: (task) => background(c, task),
    });
    return c.body(answer.body, answer.status, answer.headers);
  });

  // /verify runs the same check inside VerifyProtocol.
  for (const path of ['/healthz', '/readyz', JWKS_PATH]) {
    app.use(path, async (c, next) => {
      await sync.beforeRequest((task) => background(c, task));
      await next();
    });
  }

  const jwksCache = new JwksCache();
  const jwksCacheControl = `public, max-age=${parts.jwksMaxAgeS}`;
  app.get(JWKS_PATH, async (c) => {
    // Past KEYSET_MAX_STALENESS the held keys are not vouched for: none are published, as none verify.
    const ring = store.usableRing();
    if (ring === undefined) return c.json({ error: 'keyset_unavailable' }, 503, noStore);
    const { body, etag } = await jwksCache.of(ring.keyset, new Date(parts.now()));
    const headers = { etag, 'cache-control': jwksCacheControl };
    if (matchesIfNoneMatch(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
    return c.body(body, 200, { ...headers, 'content-type': 'application/json' });
  });

  app.put('/keyset', async (c) => {
    const answer = await parts.keysetPush.answer({
      readBody: (max) => readBodyText(c.req.raw, max),
      background: (task) => background(c, task),
    });
    return c.body(answer.body, answer.status, answer.headers);
  });

  app.put('/revocations', async (c) => {
    const answer = await parts.revocationsPush.answer({ readBody: (max) => readBodyText(c.req.raw, max) });
    return c.body(answer.body, answer.status, answer.headers);
  });

  app.get('/healthz', (c) => {
    const ring = store.ring;
    if (ring === undefined) return c.json({ status: 'no_keyset' }, 503, noStore);
    const now = parts.now();
    const ageS = Math.max(0, Math.floor((now - store.takenAt) / 1000));
    // null until an origin has confirmed the keyset (a push-only edge never has one to ask).
    const confirmedS =
      store.confirmedAt === 0 ? null : Math.max(0, Math.floor((now - store.confirmedAt) / 1000));
    const body = {
      keyset_version: ring.version,
      keyset_age_s: ageS,
      keyset_confirmed_s: confirmedS,
      verify_cache: parts.cacheStats() ?? null,
      revocation_serial: revocations.serial,
    };
    // Past KEYSET_MAX_STALENESS /verify answers 503 keyset_unavailable; so does health, for load balancers.
    if (store.isTooStale()) return c.json({ status: 'stale', ...body }, 503, noStore);
    return c.json({ status: 'ok', ...body }, 200, noStore);
  });

  // Liveness: the process answers requests. Nothing else is checked: an edge without a keyset or with a stale
  // one is not helped by a restart (the origin is what is missing), so it must not fail liveness.
  app.get('/livez', (c) => c.json({ status: 'ok' }, 200, noStore));

  // Readiness: the edge verifies tokens, as /healthz judges it (a keyset held, not past KEYSET_MAX_STALENESS).
  app.get('/readyz', (c) => {
    const reason = notReadyReason(store);
    if (reason !== undefined) return c.json({ status: 'not_ready', reasons: [reason] }, 503, noStore);
    return c.json({ status: 'ready' }, 200, noStore);
  });

  if (parts.serveMetrics) {
    app.get('/metrics', (c) =>
      c.body(metrics.exposition(store, revocations), 200, {
        'content-type': METRICS_CONTENT_TYPE,
        ...noStore,
      }),
    );
  }

  app.notFound((c) => {
    c.set('outcome', 'not_found');
    return c.json({ error: 'not_found' }, 404);
  });
  app.onError((error, c) => {
    c.set('outcome', 'internal_error');
    parts.log(`edge: unexpected error: ${error instanceof Error ? error.name : typeof error}`);
    return answer(c, INTERNAL_ERROR);
  });
  return app;
}

/** Why the edge cannot verify now, with /healthz's status codes; undefined when it can. */
function notReadyReason(store: KeysetStore): 'no_keyset' | 'stale' | undefined {
  if (store.ring === undefined) return 'no_keyset';
  if (store.isTooStale()) return 'stale';
  return undefined;
}

const noStore = { 'cache-control': 'no-store' };
const JWKS_PATH = '/.well-known/jwks.json';

function answer<B>(c: Context, failure: ErrorAnswer<B>): Response {
  return c.json(failure.body as object, failure.status, { ...noStore, ...failure.headers });
}

/** Keeps `task` alive past the response: waitUntil on Workers; elsewhere the promise simply runs on. */
function background(c: Context, task: Promise<unknown>): void {
  let ctx: { waitUntil(promise: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // Deno, Bun and Node have no ExecutionContext; the process outlives the response anyway.
  }
  ctx?.waitUntil(task);
}
