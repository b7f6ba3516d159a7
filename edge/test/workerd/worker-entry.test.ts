import {
  createExecutionContext,
  createScheduledController,
  env,
  SELF,
  waitOnExecutionContext,
} from 'cloudflare:test';
import type { KVNamespace } from '@cloudflare/workers-types/index.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { openKeyset } from '../../../shared/keyset-envelope.ts';
import { computeKid } from '../../../shared/kid.ts';
import {
  getVerify,
  health,
  postVerify,
  putKeyset,
  verifyError,
} from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_SIGNING_KEY,
  KEYSET_KEY,
  OPENING_KEYS,
  seal,
  secret,
  signByHand,
} from '../../../test/support/keysets.ts';
import { createEdge } from '../../src/create-edge.ts';
import { KV_KEYSET_KEY } from '../../src/keyset/sources/kv-keyset-mirror.ts';
import worker from '../../src/runtime/worker.ts';

// vitest.config.ts binds KEYSETS for the tests; wrangler.toml (and so the generated Env) leaves it out.
const kv = (env as Env & { KEYSETS: KVNamespace }).KEYSETS;
const FIRST = secret('entry-first');
const SECOND = secret('entry-second');
const THIRD = secret('entry-third');

/** KV writes happen in waitUntil: poll, bounded. */
async function kvVersion(atLeast: number): Promise<number | undefined> {
  let version: number | undefined;
  for (let i = 0; i < 100; i++) {
    const envelope = await kv.get(KV_KEYSET_KEY, 'text');
    version = envelope === null ? undefined : (await openKeyset(envelope, OPENING_KEYS)).version;
    if (version !== undefined && version >= atLeast) return version;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return version;
}

/** The Worker entry's fetch handler, as a fresh isolate sees it: the Worker keeps one edge per env object. */
function coldIsolate(): { fetch(request: Request): Promise<Response> } {
  const isolateEnv = { ...env };
  return {
    fetch: async (request) => {
      const ctx = createExecutionContext();
      const response = (await worker.fetch(request as never, isolateEnv, ctx)) as unknown as Response;
      await waitOnExecutionContext(ctx);
      return response;
    },
  };
}

// One KV namespace for this file: every test starts with it empty and puts there what it needs.
beforeEach(async () => {
  await kv.delete(KV_KEYSET_KEY);
});

describe('the Worker entry under workerd', () => {
  it('answers 503 before it holds a keyset', async () => {
    const isolate = coldIsolate();
    const token = await signByHand(FIRST, { sub: 'a' });
    const verify = await postVerify(isolate, token);
    expect(verify.status).toBe(503);
    expect(await verify.json()).toEqual({ valid: false, error: 'keyset_unavailable' });
    const forward = await getVerify(isolate, `Bearer ${token}`);
    expect(forward.status).toBe(503);
    await forward.body?.cancel();
    expect(await health(isolate)).toEqual({ status: 503, body: { status: 'no_keyset' } });
  });

  // The only test that goes through SELF (the worker wrangler.toml describes), so nothing else pushes into it.
  it('takes a pushed keyset, verifies with it, and copies it to KV', async () => {
    const self = { fetch: (request: Request) => SELF.fetch(request) as unknown as Promise<Response> };
    const put = await putKeyset(self, await seal(await buildKeyset(1, FIRST)));
    expect(await put.json()).toEqual({
      version: 1,
      kids: [await computeKid(FIRST)],
      time: expect.any(Number),
      revocations: 0,
    });
    expect(await verifyError(self, await signByHand(FIRST, { sub: 'a' }))).toBeUndefined();
    const forward = await getVerify(self, `Bearer ${await signByHand(FIRST, { sub: 'alice' })}`);
    expect(forward.status).toBe(200);
    expect(forward.headers.get('x-auth-subject')).toBe('alice');
    expect(await kvVersion(1)).toBe(1);
  });

  it('lets a cold isolate start from KV, and a stale one catch up from KV after KEYSET_TTL', async () => {
    await kv.put(KV_KEYSET_KEY, await seal(await buildKeyset(1, FIRST)));
    let now = Date.parse('2026-06-01T00:00:00Z');
    const quiet = () => {};
    const cold = createEdge({
      env: { ...EDGE_KEYS, KEYSET_TTL: '60s', KEYSETS: kv },
      now: () => now,
      log: quiet,
    });
    expect(await health(cold)).toMatchObject({ status: 200, body: { keyset_version: 1 } });

    // Another isolate takes version 2 by push and mirrors it; `cold` does not know yet.
    const pushed = createEdge({ env: { ...EDGE_KEYS, KEYSETS: kv }, log: quiet });
    await putKeyset(pushed, await seal(await buildKeyset(2, SECOND, [{ secret: FIRST }])));
    expect(await kvVersion(2)).toBe(2);
    expect((await health(cold)).body).toMatchObject({ keyset_version: 1 });

    now += 60_000;
    // The stale request is served at once; the KV read runs behind it.
    expect(await verifyError(cold, await signByHand(FIRST, { sub: 'a' }))).toBeUndefined();
    let version: unknown;
    for (let i = 0; i < 100 && version !== 2; i++) {
      version = (await health(cold)).body.keyset_version;
      if (version !== 2) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(version).toBe(2);
    expect(await verifyError(cold, await signByHand(SECOND, { sub: 'b' }))).toBeUndefined();
  });

  it('never takes from KV a keyset signed by another key, though sealed with the right KEYSET_KEY', async () => {
    // Any isolate (or anyone with the namespace's API token) can write KV; only the control plane signs.
    await kv.put(KV_KEYSET_KEY, await seal(await buildKeyset(5, SECOND), KEYSET_KEY, FOREIGN_SIGNING_KEY));
    const cold = createEdge({ env: { ...EDGE_KEYS, KEYSETS: kv }, log: () => {} });
    expect(await health(cold)).toMatchObject({ status: 503, body: { status: 'no_keyset' } });
    expect(await verifyError(cold, await signByHand(SECOND, { sub: 'b' }))).toBe('keyset_unavailable');
  });

  it('never rolls KV back to an older version', async () => {
    await kv.put(KV_KEYSET_KEY, await seal(await buildKeyset(2, SECOND, [{ secret: FIRST }])));
    const behind = createEdge({ env: { ...EDGE_KEYS, KEYSETS: kv }, log: () => {} });
    const response = await postVerify(behind, 'x.y.z');
    await response.body?.cancel();
    await behind.sync.publish(await seal(await buildKeyset(1, FIRST)), 1);
    expect(await kvVersion(2)).toBe(2);
  });

  it('pulls on the cron trigger (scheduled handler) and serves through the fetch handler', async () => {
    await kv.put(KV_KEYSET_KEY, await seal(await buildKeyset(3, THIRD, [{ secret: SECOND }])));
    const isolateEnv = { ...env };
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '*/5 * * * *' }), isolateEnv, ctx);
    await waitOnExecutionContext(ctx);
    const fetchCtx = createExecutionContext();
    const response = await worker.fetch(
      new Request('http://edge.test/healthz') as never,
      isolateEnv,
      fetchCtx,
    );
    await waitOnExecutionContext(fetchCtx);
    expect(await response.json()).toMatchObject({ status: 'ok', keyset_version: 3 });
  });

  it('answers a generic 500 while the configuration is bad, naming the variable only in the log', async () => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request('http://edge.test/healthz') as never,
      { ...env, JWT_ALGORITHMS: 'none' },
      ctx,
    );
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'config_invalid' });
  });
});
