/** One smoke suite, three runtimes: the real entry files under node, deno and bun, on loopback. */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { computeKid } from '../../../shared/kid.ts';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../../../test/support/edge-entry-commands.ts';
import { freePort } from '../../../test/support/free-port.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  seal,
  secret,
  signByHand,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { revocationBatch, revocationList, signRevocations } from '../../../test/support/revocation-lists.ts';

const ROOT = REPO_ROOT;

const RUNTIMES: Record<string, string[]> = EDGE_ENTRY_COMMANDS;

let child: ChildProcess | undefined;
let output = '';

afterEach(async () => {
  const proc = child;
  child = undefined;
  if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
});

async function startEdge(runtime: string): Promise<string> {
  const port = await freePort();
  const [command, ...args] = RUNTIMES[runtime] as string[];
  output = '';
  child = spawn(command as string, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...EDGE_KEYS,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const base = `http://127.0.0.1:${port}`;
  // Bounded: 600 x 50 ms. Deno's first start compiles the TypeScript.
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${runtime} edge exited: ${output}`);
    const answer = await fetch(`${base}/healthz`).catch(() => undefined);
    if (answer !== undefined) {
      expect(answer.status).toBe(503);
      await answer.body?.cancel();
      return base;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${runtime} edge did not answer /healthz: ${output}`);
}

const ACTIVE = secret('runtime-active');

describe.each(Object.keys(RUNTIMES))('the %s entry', (runtime) => {
  it('takes a pushed keyset, verifies good tokens and refuses bad ones', async () => {
    const base = await startEdge(runtime);
    const put = await fetch(`${base}/keyset`, {
      method: 'PUT',
      body: await seal(await buildKeyset(1, ACTIVE)),
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({
      version: 1,
      kids: [await computeKid(ACTIVE)],
      time: expect.any(Number),
      revocations: 0,
    });
    const healthz = await fetch(`${base}/healthz`);
    expect(await healthz.json()).toMatchObject({ status: 'ok', keyset_version: 1 });

    const kid = await computeKid(ACTIVE);
    const good = await signWithJose(ACTIVE, { sub: 'smoke', exp: epochSeconds(Date.now()) + 60 }, { kid });
    const verified = await fetch(`${base}/verify`, { method: 'POST', body: JSON.stringify({ token: good }) });
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ valid: true, kid, claims: { sub: 'smoke' } });

    const forward = await fetch(`${base}/verify`, { headers: { authorization: `Bearer ${good}` } });
    expect(forward.status).toBe(200);
    expect(forward.headers.get('x-auth-subject')).toBe('smoke');
    expect(forward.headers.get('x-auth-kid')).toBe(kid);
    await forward.body?.cancel();

    const bad = {
      signature_invalid: await signByHand(secret('runtime-other'), { sub: 'x' }),
      token_expired: await signByHand(ACTIVE, { sub: 'x', exp: epochSeconds(Date.now()) - 3600 }),
      token_malformed: 'not.a.jwt',
    };
    for (const [error, token] of Object.entries(bad)) {
      const response = await fetch(`${base}/verify`, { method: 'POST', body: JSON.stringify({ token }) });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ valid: false, error });
    }
    const denied = await fetch(`${base}/verify`, {
      headers: { authorization: `Bearer ${bad.token_expired}` },
    });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    await denied.body?.cancel();
  });

  it('refuses a revoked token after PUT /revocations, on POST and GET /verify', async () => {
    const base = await startEdge(runtime);
    expect(
      (await fetch(`${base}/keyset`, { method: 'PUT', body: await seal(await buildKeyset(1, ACTIVE)) }))
        .status,
    ).toBe(200);
    const kid = await computeKid(ACTIVE);
    const now = Date.now();
    const claims = (jti: string, sub: string) => ({
      jti,
      sub,
      iat: epochSeconds(now) - 60,
      exp: epochSeconds(now) + 600,
    });
    const stolen = await signWithJose(ACTIVE, claims('stolen', 'smoke'), { kid });
    const bySubject = await signWithJose(ACTIVE, claims('other', 'revoked-user'), { kid });
    const kept = await signWithJose(ACTIVE, claims('kept', 'smoke'), { kid });
    const verdict = async (token: string, get: boolean) => {
      const response = get
        ? await fetch(`${base}/verify`, { headers: { authorization: `Bearer ${token}` } })
        : await fetch(`${base}/verify`, { method: 'POST', body: JSON.stringify({ token }) });
      const body = (await response.json()) as { valid: boolean; error?: string };
      return { status: response.status, error: body.error };
    };
    // Verified (and cached: VERIFY_CACHE_SIZE is on by default) before the revocation.
    for (const token of [stolen, bySubject, kept])
      expect(await verdict(token, false)).toEqual({ status: 200 });

    const list = revocationList(0, [revocationBatch(1, now, { jti: ['stolen'], sub: ['revoked-user'] })]);
    const put = await fetch(`${base}/revocations`, { method: 'PUT', body: await signRevocations(list) });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ serial: 1 });
    for (const get of [false, true]) {
      expect(await verdict(stolen, get)).toEqual({ status: 401, error: 'token_revoked' });
      expect(await verdict(bySubject, get)).toEqual({ status: 401, error: 'token_revoked' });
      expect(await verdict(kept, get)).toEqual({ status: 200 });
    }
    const healthz = await fetch(`${base}/healthz`);
    expect(await healthz.json()).toMatchObject({ status: 'ok', revocation_serial: 1 });
  });
});

describe('the node entry on SIGTERM', () => {
  it('exits 0 (a graceful stop, not death by signal)', async () => {
    await startEdge('node');
    const proc = child as ChildProcess;
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      proc.once('exit', (code, signal) => resolve([code, signal])),
    );
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    try {
      expect(await exited).toEqual([0, null]);
    } finally {
      clearTimeout(timer);
    }
  });
});
