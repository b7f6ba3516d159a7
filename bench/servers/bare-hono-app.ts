/** The no-verify HTTP baseline: a Hono app with the edge's /verify routes that answer without verifying. */
import { Hono } from 'hono';

const claims = { sub: 'user_2f9c1d7e4b8a4c0e9d3f' };

export function createBareHonoApp(): Hono {
  const app = new Hono();
  app.post('/verify', async (c) => {
    const body = (await c.req.json()) as { token?: unknown };
    return c.json({ valid: typeof body.token === 'string', kid: 'none', claims }, 200, {
      'cache-control': 'no-store',
    });
  });
  app.get('/verify', (c) =>
    c.json({ valid: Boolean(c.req.header('authorization')), kid: 'none', claims }, 200, {
      'cache-control': 'no-store',
    }),
  );
  return app;
}
