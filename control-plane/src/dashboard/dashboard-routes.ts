/**
 * The operator dashboard on HTTP_PORT, read-only:
 *   GET /dashboard/          the page (a static shell with no data), its app.js and app.css: unauthenticated,
 *                            as they hold nothing that is not in the package
 *   GET /dashboard/state     the snapshot as JSON       } `Authorization: Bearer <ADMIN_TOKEN>`, checked by the
 *   GET /dashboard/events    snapshots as server-sent   } admin token check and its brake (admin-auth.ts), the same
 *                            events, on every change    } instance gRPC uses; a wrong token gets 401 and no data
 * The token travels in a header only, never in a URL (where logs, history and Referer would keep it). An open
 * stream whose token a reload has since replaced is told `denied` and closed at its next snapshot.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { bearerCredentials } from '../../../shared/bearer-token.ts';
import { type AdminAuth, INVALID_ADMIN_TOKEN } from '../admin-auth.ts';
import { ControlPlaneError } from '../errors.ts';
import type { DashboardFeed } from './dashboard-feed.ts';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-page.ts';
import type { DashboardState } from './dashboard-state.ts';

export interface DashboardDeps {
  auth: AdminAuth;
  feed: DashboardFeed;
  state: () => Promise<DashboardState>;
  /**
   * Called once per request for data, as gRPC's admin calls are (an access-log line, keyward_admin_calls_total):
   * `call` is DashboardState or DashboardEvents, `outcome` ok, permission_denied, rate_limited or unavailable.
   */
  onAccess?: (access: { peer: string; call: string; outcome: string }) => void;
}

/** Same-origin script and style only, no inline code, no framing, no form posting anywhere. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function secured(c: Context): void {
  c.header('Content-Security-Policy', DASHBOARD_CSP);
  c.header('X-Frame-Options', 'DENY');
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('Cache-Control', 'no-store');
}

function peerOf(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // Not served by @hono/node-server (app.request in a test): every such caller is one peer.
    return 'unknown';
  }
}

/**
 * The caller once the admin token check accepts it (`admitted` logs the request's outcome from there), or the
 * answer refusing it, logged.
 */
function authorize(
  c: Context,
  deps: DashboardDeps,
  call: string,
): { token: string; admitted(outcome: string): void } | Response {
  const token = bearerCredentials(c.req.header('authorization'));
  const peer = peerOf(c);
  const access = (outcome: string) => deps.onAccess?.({ peer, call, outcome });
  try {
    deps.auth.check(peer, token);
  } catch (error) {
    if (error instanceof ControlPlaneError && error.code === 'rate_limited') {
      access('rate_limited');
      const seconds = /retry in (\d+)s/.exec(error.message)?.[1];
      if (seconds) c.header('Retry-After', seconds);
      return c.json({ error: error.message }, 429);
    }
    access('permission_denied');
    c.header('WWW-Authenticate', 'Bearer realm="keyward-dashboard"');
    return c.json({ error: INVALID_ADMIN_TOKEN }, 401);
  }
  return { token: token as string, admitted: access };
}

export function mountDashboard(app: Hono, deps: DashboardDeps): void {
  app.use('/dashboard', async (c, next) => {
    await next();
    secured(c);
  });
  app.use('/dashboard/*', async (c, next) => {
    await next();
    secured(c);
  });
  // Relative, so that the page's relative links resolve under /dashboard/ behind a proxy's path prefix too.
  app.get('/dashboard', (c) => c.body(null, 308, { location: 'dashboard/' }));
  app.get('/dashboard/', (c) => c.html(DASHBOARD_HTML));
  app.get('/dashboard/app.js', (c) =>
    c.body(DASHBOARD_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/dashboard/app.css', (c) =>
    c.body(DASHBOARD_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );

  app.get('/dashboard/state', async (c) => {
    const allowed = authorize(c, deps, 'DashboardState');
    if (allowed instanceof Response) return allowed;
    allowed.admitted('ok');
    return c.json(await deps.state());
  });

  app.get('/dashboard/events', (c) => {
    const allowed = authorize(c, deps, 'DashboardEvents');
    if (allowed instanceof Response) return allowed;
    const subscription = deps.feed.subscribe();
    if (subscription === null) {
      allowed.admitted('unavailable');
      return c.json(
        { error: `too many dashboards open (at most ${deps.feed.maxStreams}), or stopping` },
        503,
      );
    }
    allowed.admitted('ok');
    const response = streamSSE(c, async (stream) => {
      stream.onAbort(() => subscription.close());
      try {
        do {
          if (!deps.auth.stillAccepts(allowed.token)) {
            await stream.writeSSE({ event: 'denied', data: 'the admin token is no longer accepted' });
            break;
          }
          await stream.writeSSE({ event: 'state', data: JSON.stringify(await deps.state()) });
        } while (await subscription.next());
      } catch {
        // The dashboard went away mid-write, or the snapshot failed: the page reconnects.
      } finally {
        subscription.close();
      }
    });
    // The connection ends with the stream: a kept-alive one would hold a closing server for its idle timeout.
    response.headers.set('connection', 'close');
    return response;
  });
}
