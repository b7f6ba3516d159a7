/**
 * Pulls from KEYSET_URL. The protocol (cold pull, If-None-Match and 304, TTL, unknown kids) runs against the real
 * control plane's keyset endpoint (its HTTP server over loopback, Valkey behind it); what a broken or hostile
 * origin does (errors, silence, bodies that are not envelopes, older versions) comes from a bare server that
 * answers whatever a test sets. Every test builds its own edge and counts its own requests.
 */
import { createServer, type Server } from 'node:http';
import { credentials } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectSecretService } from '../../../control-plane/src/grpc/secret-service-client.ts';
import { computeKid } from '../../../shared/kid.ts';
import { type Harness, startHarness } from '../../../test/support/control-plane-harness.ts';
import { health, postVerify, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_KEYSET_KEY,
  FOREIGN_SIGNING_KEY,
  KEYSET_KEY,
  seal,
  sealWithSpecParametersOnly,
  secret,
  signByHand,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { startValkey, type ValkeyServer } from '../../../test/support/valkey-server.ts';
import { createEdge } from '../../src/create-edge.ts';
import type { KeysetKv } from '../../src/env.ts';
import { SOURCE_DEADLINE_MS, UNKNOWN_KID_COOLDOWN_MS } from '../../src/keyset/keyset-sync.ts';

/** The control plane's grace period: short enough that a test can move an edge's clock past it. */
const GRACE_MS = 3_600_000;

let valkey: ValkeyServer;
let controlPlane: Harness;

/**
 * A bare origin for the failure cases: answers `status` with `body` (no ETag, never 304), or never answers. Each
 * test sets all of it through `answer`.
 */
const broken = {
  body: '' as string | Buffer,
  status: 200,
  hang: false,
  hits: 0,
  /** GET /revocations gets no answer either (else a 304, not counted in `hits`). */
  hangRevocations: false,
  revocationHits: 0,
};
let brokenServer: Server;
let brokenUrl: string;

function answer(next: { body?: string | Buffer; status?: number; hang?: boolean }) {
  broken.body = next.body ?? '';
  broken.status = next.status ?? 200;
  broken.hang = next.hang ?? false;
}

beforeAll(async () => {
  valkey = await startValkey();
  controlPlane = await startHarness({
    valkeyUrl: valkey.url,
    keysetKey: EDGE_KEYS.KEYSET_KEY,
    gracePeriod: `${GRACE_MS / 1000}s`,
  });
  brokenServer = createServer((request, response) => {
    // The revocation list's pull beside the keyset's: nothing newer, and not counted.
    if (request.url?.startsWith('/revocations')) {
      broken.revocationHits++;
      if (!broken.hangRevocations) response.writeHead(304).end();
      return;
    }
    broken.hits++;
    if (broken.hang) return;
    response.writeHead(broken.status, { 'content-type': 'application/jose' }).end(broken.body);
  });
  await new Promise<void>((resolve) => brokenServer.listen(0, '127.0.0.1', resolve));
  const address = brokenServer.address();
  brokenUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/keyset`;
});

afterAll(async () => {
  brokenServer?.closeAllConnections();
  await new Promise((resolve) => brokenServer?.close(resolve));
  await controlPlane?.stop();
  await valkey?.stop();
});

/**
 * The real network, watched: how many keyset requests this edge sent to its origin, and how many were answered
 * 304 (the revocation list's pulls beside them are not counted).
 */
function watchedFetch() {
  const seen = { requests: 0, notModified: 0 };
  const watched: typeof fetch = async (input, init) => {
    if (new URL(new Request(input).url).pathname.endsWith('/revocations')) return fetch(input, init);
    seen.requests++;
    const response = await fetch(input, init);
    if (response.status === 304) seen.notModified++;
    return response;
  };
  return { seen, fetch: watched };
}

/** An edge pulling from the control plane, its clock at `clock.now`, its requests counted. */
function edgeOnControlPlane(clock: { now: number }, logs: string[] = [], ttl = '300s') {
  const { seen, fetch } = watchedFetch();
  const edge = createEdge({
    // These tests count the requests KEYSET_TTL makes; edge/test/node/revalidate.test.ts has KEYSET_REVALIDATE's.
    env: { ...EDGE_KEYS, KEYSET_URL: controlPlane.keysetUrl, KEYSET_TTL: ttl, KEYSET_REVALIDATE: 'off' },
    now: () => clock.now,
    fetch,
    log: (line) => logs.push(line),
  });
  return { edge, seen };
}

/** Rotates the control plane to `active` and returns the version it now serves. */
async function rotateTo(active: string): Promise<number> {
  return Number((await controlPlane.rotate(active)).version);
}

let rotations = 0;
/** A secret the control plane has never held (it refuses to take one twice). */
function fresh(label: string): string {
  return secret(`url-${label}-${++rotations}`);
}

async function until(condition: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

const A = secret('url-a');
const B = secret('url-b');
const C = secret('url-c');
const D = secret('url-d');

describe('pulling from KEYSET_URL (the real control plane over loopback)', () => {
  it('pulls at cold start, before answering the first request', async () => {
    const A = fresh('a');
    const version = await rotateTo(A);
    const clock = { now: Date.now() };
    const { edge, seen } = edgeOnControlPlane(clock);
    expect(await verifyError(edge, await signByHand(A, { sub: 'a' }))).toBeUndefined();
    expect(seen.requests).toBe(1);
    expect((await health(edge)).body).toMatchObject({ keyset_version: version });
  });

  it('revalidates with If-None-Match once the keyset is older than KEYSET_TTL', async () => {
    await rotateTo(fresh('a'));
    const clock = { now: Date.now() };
    const { edge, seen } = edgeOnControlPlane(clock);
    await health(edge);
    expect(seen.requests).toBe(1);
    clock.now += 299_000;
    await health(edge);
    expect(seen.requests).toBe(1);
    clock.now += 1_000;
    await health(edge);
    expect(await until(() => seen.notModified === 1)).toBe(true);
    // Confirmed fresh by the 304: no further pull until another TTL has passed.
    await health(edge);
    expect(seen.requests).toBe(2);
  });

  it('takes a newer version on the next TTL pull, serving the held one meanwhile', async () => {
    const [A, B] = [fresh('a'), fresh('b')];
    const first = await rotateTo(A);
    const clock = { now: Date.now() };
    const { edge } = edgeOnControlPlane(clock);
    expect((await health(edge)).body).toMatchObject({ keyset_version: first });
    const second = await rotateTo(B);
    clock.now += 300_000;
    expect(await verifyError(edge, await signByHand(A, { sub: 'a' }))).toBeUndefined();
    expect(await until(async () => (await health(edge)).body.keyset_version === second)).toBe(true);
    expect(await verifyError(edge, await signByHand(B, { sub: 'b' }))).toBeUndefined();
  });

  it('pulls for an unknown kid at once, at most once per cooldown, coalescing concurrent requests', async () => {
    const [C, D] = [fresh('c'), fresh('d')];
    await rotateTo(fresh('b'));
    const clock = { now: Date.now() };
    const { edge, seen } = edgeOnControlPlane(clock);
    await health(edge);
    const hits = seen.requests;

    await rotateTo(C);
    const token = await signWithJose(C, { sub: 'c' }, { kid: await computeKid(C) });
    const answers = await Promise.all(Array.from({ length: 10 }, () => postVerify(edge, token)));
    expect(answers.map((response) => response.status)).toEqual(Array(10).fill(200));
    expect(seen.requests).toBe(hits + 1);

    await rotateTo(D);
    const early = await signWithJose(D, { sub: 'd' }, { kid: await computeKid(D) });
    clock.now += UNKNOWN_KID_COOLDOWN_MS - 1;
    expect(await verifyError(edge, early)).toBe('key_unknown');
    expect(seen.requests).toBe(hits + 1);
    clock.now += 1;
    expect(await verifyError(edge, early)).toBeUndefined();
    expect(seen.requests).toBe(hits + 2);
  });

  it('does not pull for a known kid that expired, nor for a token without kid', async () => {
    const C = fresh('c');
    await rotateTo(C);
    await rotateTo(fresh('d'));
    const clock = { now: Date.now() };
    // A TTL past the grace period, so that moving the clock there asks for no TTL pull either.
    const { edge, seen } = edgeOnControlPlane(clock, [], '1d');
    const previous = await signWithJose(C, { sub: 'c' }, { kid: await computeKid(C) });
    expect(await verifyError(edge, previous)).toBeUndefined();
    const hits = seen.requests;

    clock.now += GRACE_MS + UNKNOWN_KID_COOLDOWN_MS;
    expect(await verifyError(edge, previous)).toBe('key_unknown');
    expect(await verifyError(edge, await signByHand(secret('nobody'), { sub: 'x' }))).toBe(
      'signature_invalid',
    );
    expect(seen.requests).toBe(hits);
  });

  it('pulls for an unknown kid of an algorithm it holds no key of, and verifies the token once the keyset arrives', async () => {
    await rotateTo(fresh('hs-only'));
    const clock = { now: Date.now() };
    const { edge, seen } = edgeOnControlPlane(clock);
    await health(edge);
    expect(edge.store.ring?.keyset.keys.map((key) => key.alg)).not.toContain('ES256');
    const hits = seen.requests;

    // An ES256 key made active with no push to this edge; an issuer signs with it at once.
    const client = connectSecretService(controlPlane.grpcAddress, credentials.createInsecure());
    const reader = new Valkey(valkey.url, { maxRetriesPerRequest: 1 });
    try {
      const rotated = await client.rotateSecret(
        {
          admin_token: controlPlane.adminToken,
          new_secret: '',
          generate: true,
          emergency: false,
          alg: 'ES256',
        },
        { deadlineMs: 15_000 },
      );
      expect(rotated.success).toBe(true);
      const jwk = JSON.parse((await reader.get('jwt_secrets:signing_key')) as string);
      expect(jwk.alg).toBe('ES256');
      const token = await new SignJWT({ sub: 'es' })
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid })
        .sign(await importJWK(jwk, 'ES256'));
      expect(await verifyError(edge, token)).toBeUndefined();
      expect(seen.requests).toBe(hits + 1);
    } finally {
      client.close();
      reader.disconnect();
    }
    // HS256 active again, as the later tests expect of this control plane.
    await rotateTo(fresh('hs-again'));
  });

  it('the scheduled refresh pulls regardless of TTL; pushes and pulls share the accept path', async () => {
    const held = await rotateTo(fresh('d'));
    const clock = { now: Date.now() };
    const { edge } = edgeOnControlPlane(clock);
    expect((await health(edge)).body).toMatchObject({ keyset_version: held });
    const next = await rotateTo(fresh('f'));
    expect(await edge.refresh('scheduled')).toMatchObject({ taken: true, version: next, failures: [] });
    const replay = await putKeyset(edge, await seal(await buildKeyset(held, secret('url-e'))));
    expect(replay.status).toBe(409);
  });

  it('a replayed old envelope pushed into a fresh edge is replaced by the origin on the next request', async () => {
    const current = await rotateTo(fresh('d'));
    expect(current).toBeGreaterThan(1);
    const replayed = secret('url-replayed');
    const { edge } = edgeOnControlPlane({ now: Date.now() });
    // An attacker's copy of version 1, with a key long retired.
    expect((await putKeyset(edge, await seal(await buildKeyset(1, replayed)))).status).toBe(200);
    await health(edge);
    expect(await until(async () => (await health(edge)).body.keyset_version === current)).toBe(true);
    expect(await verifyError(edge, await signByHand(replayed, { sub: 'a' }))).toBe('signature_invalid');
  });
});

describe('pulling the revocation list from the real control plane (GET /revocations beside KEYSET_URL)', () => {
  it('takes a snapshot at the first pull, then what is newer than the held serial, and hears 304 when nothing is', async () => {
    const A = fresh('revoke');
    await rotateTo(A);
    const clock = { now: Date.now() };
    const asked: string[] = [];
    const logs: string[] = [];
    const edge = createEdge({
      env: { ...EDGE_KEYS, KEYSET_URL: controlPlane.keysetUrl, KEYSET_REVALIDATE: 'off' },
      now: () => clock.now,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const url = new URL(new Request(input).url);
        if (url.pathname === '/revocations') asked.push(`${url.search} ${response.status}`);
        return response;
      },
      log: (line) => logs.push(line),
    });
    const iat = Math.floor(clock.now / 1000) - 60;
    const stolen = await signByHand(A, { sub: 'url-victim', jti: 'url-stolen', iat });
    const sibling = await signByHand(A, { sub: 'url-victim', jti: 'url-sibling', iat });
    const alices = await signByHand(A, { sub: 'url-alice', jti: 'url-alice-1', iat });
    // The cold pull asks for the list too; the control plane holds none yet.
    expect(await verifyError(edge, stolen)).toBeUndefined();
    expect(asked).toEqual(['?since=0 304']);

    const byJti = await controlPlane.revokeTokens(['url-stolen']);
    expect(byJti.success).toBe(true);
    await edge.refresh('scheduled');
    expect(await verifyError(edge, stolen)).toBe('token_revoked');
    expect(await verifyError(edge, sibling)).toBeUndefined();
    expect((await health(edge)).body).toMatchObject({ revocation_serial: byJti.version });

    const bySubject = await controlPlane.revokeTokens([], 'url-alice');
    expect(bySubject.version).toBeGreaterThan(byJti.version);
    await edge.refresh('stale');
    expect(await verifyError(edge, alices)).toBe('token_revoked');
    expect(await verifyError(edge, stolen)).toBe('token_revoked');
    const later = await signByHand(A, { sub: 'url-alice', jti: 'url-alice-2', iat: Date.now() / 1000 + 1 });
    expect(await verifyError(edge, later)).toBeUndefined();

    await edge.refresh('scheduled');
    expect(asked).toEqual([
      '?since=0 304',
      '?since=0 200',
      `?since=${byJti.version} 200`,
      `?since=${bySubject.version} 304`,
    ]);
    expect((await health(edge)).body).toMatchObject({ revocation_serial: bySubject.version });
    expect(logs).toEqual([]);
  });
});

describe('pulling from an origin that fails', () => {
  it('ignores an older version from the origin and keeps serving through origin failures', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const logs: string[] = [];
    answer({ body: await seal(await buildKeyset(4, D, [{ secret: C }])) });
    const edge = createEdge({
      env: { ...EDGE_KEYS, KEYSET_URL: brokenUrl, KEYSET_TTL: '300s' },
      now: () => now,
      log: (line) => logs.push(line),
    });
    expect((await health(edge)).body).toMatchObject({ keyset_version: 4 });

    answer({ body: await seal(await buildKeyset(2, B, [{ secret: A }])) });
    now += 300_000;
    expect(await edge.refresh('stale')).toMatchObject({ taken: false, version: 4, failures: [] });
    expect((await health(edge)).body).toMatchObject({ keyset_version: 4 });

    answer({ status: 500 });
    now += 300_000;
    const hits = broken.hits;
    await health(edge);
    expect(await until(() => broken.hits > hits)).toBe(true);
    expect(await until(() => logs.some((line) => line.includes('KEYSET_URL answered 500')))).toBe(true);
    expect(await verifyError(edge, await signByHand(D, { sub: 'd' }))).toBeUndefined();
    expect(logs.join('\n')).not.toContain(D);
  });
});

/** An edge pulling from the bare origin every 60 s, failing closed past `maxStaleness` without a confirmation. */
function edgeOnBrokenOrigin(now: () => number, maxStaleness: string) {
  const env = { ...EDGE_KEYS, KEYSET_URL: brokenUrl, KEYSET_TTL: '60s', KEYSET_MAX_STALENESS: maxStaleness };
  return createEdge({ env, now, log: () => {} });
}

describe('KEYSET_MAX_STALENESS: failing closed when no source confirms the keyset', () => {
  it('keeps verifying through origin failures until the limit, then answers 503 until a pull confirms', async () => {
    let now = Date.parse('2026-07-01T00:00:00Z');
    const envelope = await seal(await buildKeyset(1, A));
    answer({ body: envelope });
    const edge = edgeOnBrokenOrigin(() => now, '10m');
    const token = await signByHand(A, { sub: 'a' });
    expect(await verifyError(edge, token)).toBeUndefined();

    answer({ status: 503 });
    for (let minute = 1; minute <= 10; minute++) {
      now += 60_000;
      expect(await verifyError(edge, token)).toBeUndefined();
    }
    now += 1;
    const stale = await postVerify(edge, token);
    expect(stale.status).toBe(503);
    expect(await stale.json()).toEqual({ valid: false, error: 'keyset_unavailable' });
    // Let the last background pull land before counting.
    await edge.refresh('stale');
    const hits = broken.hits;
    expect(await health(edge)).toMatchObject({
      status: 503,
      body: { status: 'stale', keyset_version: 1, keyset_confirmed_s: 600 },
    });

    // The origin answers again, with the held version: that confirms it.
    answer({ body: envelope });
    // The failed pull just now holds the next one back for the retry interval: still 503, no pull.
    expect((await postVerify(edge, token)).status).toBe(503);
    expect(broken.hits).toBe(hits);
    now += 5_000;
    expect(await verifyError(edge, token)).toBeUndefined();
    expect(await health(edge)).toMatchObject({ status: 200, body: { status: 'ok', keyset_confirmed_s: 0 } });
  });

  it('an answer that does not open, or is older than the held keyset, confirms nothing', async () => {
    let now = Date.parse('2026-07-02T00:00:00Z');
    answer({ body: await seal(await buildKeyset(2, B, [{ secret: A }])) });
    const edge = edgeOnBrokenOrigin(() => now, '5m');
    const token = await signByHand(B, { sub: 'b' });
    expect(await verifyError(edge, token)).toBeUndefined();
    // The origin now answers 200 with an envelope under another key, then with an older version.
    answer({ body: await seal(await buildKeyset(3, C), FOREIGN_KEYSET_KEY) });
    for (let minute = 1; minute <= 5; minute++) {
      now += 60_000;
      if (minute === 3) answer({ body: await seal(await buildKeyset(1, A)) });
      await verifyError(edge, token);
      await edge.refresh('stale');
    }
    now += 1;
    expect((await postVerify(edge, token)).status).toBe(503);
  });

  it('a keyset sealed with the right KEYSET_KEY but not signed by KEYSET_VERIFY_KEY is a failed pull, never taken', async () => {
    let now = Date.parse('2026-07-02T12:00:00Z');
    answer({ body: await seal(await buildKeyset(2, B, [{ secret: A }])) });
    const edge = edgeOnBrokenOrigin(() => now, '5m');
    const token = await signByHand(B, { sub: 'b' });
    expect(await verifyError(edge, token)).toBeUndefined();
    const forged = await buildKeyset(9, C);
    for (const body of [
      await seal(forged, KEYSET_KEY, FOREIGN_SIGNING_KEY),
      await sealWithSpecParametersOnly(forged),
    ]) {
      answer({ body });
      now += 60_000;
      const report = await edge.refresh('stale');
      expect(report).toMatchObject({ taken: false, version: 2 });
      expect(report.failures).toEqual([expect.stringMatching(/^KEYSET_URL: .*(signed|signature)/)]);
      expect(await verifyError(edge, await signByHand(C, { sub: 'c' }))).toBe('signature_invalid');
    }
    // Neither answer confirmed the held keyset: past KEYSET_MAX_STALENESS the edge fails closed.
    now += 3 * 60_000 + 1;
    expect((await postVerify(edge, token)).status).toBe(503);
  });

  it('a 200 whose body is not UTF-8 is a failed pull, not a confirmation', async () => {
    let now = Date.parse('2026-07-03T00:00:00Z');
    answer({ body: await seal(await buildKeyset(1, A)) });
    const edge = edgeOnBrokenOrigin(() => now, '5m');
    const token = await signByHand(A, { sub: 'a' });
    expect(await verifyError(edge, token)).toBeUndefined();
    answer({ body: Buffer.from([0x65, 0x79, 0xff, 0xfe]) });
    now += 60_000;
    const report = await edge.refresh('stale');
    expect(report.failures).toEqual([
      'KEYSET_URL: pull_failed: KEYSET_URL answered a body that is not UTF-8',
    ]);
    expect((await health(edge)).body).toMatchObject({ keyset_confirmed_s: 60 });
    now += 4 * 60_000 + 1;
    expect((await postVerify(edge, token)).status).toBe(503);
  });

  it('an origin that never answers fails the pull at the deadline instead of holding every later one', async () => {
    answer({ body: await seal(await buildKeyset(1, A)), hang: true });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const edge = createEdge({ env: { ...EDGE_KEYS, KEYSET_URL: brokenUrl }, log: () => {} });
      const hits = broken.hits;
      const pull = edge.refresh('cold');
      // setTimeout is fake here: wait for the request to reach the origin on the event loop's own turns.
      for (let turn = 0; turn < 100_000 && broken.hits === hits; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(broken.hits).toBe(hits + 1);
      await vi.advanceTimersByTimeAsync(SOURCE_DEADLINE_MS);
      const report = await pull;
      expect(report).toMatchObject({ taken: false, version: 0 });
      expect(report.failures).toEqual([`KEYSET_URL: pull_failed: no answer within ${SOURCE_DEADLINE_MS} ms`]);
      // The next pull is a new one, not the stuck one.
      broken.hang = false;
      expect(await edge.refresh('scheduled')).toMatchObject({ taken: true, version: 1 });
    } finally {
      vi.useRealTimers();
      brokenServer.closeAllConnections();
    }
  });

  it('a revocation list pull that never answers does not hold the keyset pull past the deadline', async () => {
    answer({ body: await seal(await buildKeyset(1, A)) });
    broken.hangRevocations = true;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const logs: string[] = [];
      const edge = createEdge({
        env: { ...EDGE_KEYS, KEYSET_URL: brokenUrl },
        log: (line) => logs.push(line),
      });
      const asked = broken.revocationHits;
      const pull = edge.refresh('cold');
      for (let turn = 0; turn < 100_000 && broken.revocationHits === asked; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(broken.revocationHits).toBe(asked + 1);
      await vi.advanceTimersByTimeAsync(SOURCE_DEADLINE_MS);
      expect(await pull).toMatchObject({ taken: true, version: 1, failures: [] });
      expect(logs).toEqual([
        `keyset: pull (cold) alongside failed: pull_failed: no answer within ${SOURCE_DEADLINE_MS} ms`,
      ]);
    } finally {
      broken.hangRevocations = false;
      vi.useRealTimers();
      brokenServer.closeAllConnections();
    }
  });

  it('refuses a limit no pull could honour, or one with no source to confirm it', () => {
    expect(() =>
      createEdge({ env: { ...EDGE_KEYS, KEYSET_URL: brokenUrl, KEYSET_MAX_STALENESS: '60s' } }),
    ).toThrow(/^KEYSET_MAX_STALENESS: must be longer than KEYSET_TTL/);
    expect(() => createEdge({ env: { ...EDGE_KEYS, KEYSET_MAX_STALENESS: '1h' } })).toThrow(
      /^KEYSET_MAX_STALENESS: needs an origin/,
    );
    // KV holds copies the edges wrote themselves: it never confirms, so it cannot honour the limit either
    // (config refuses before the binding is touched, so an empty object stands in for it).
    const kv = {} as KeysetKv;
    expect(() => createEdge({ env: { ...EDGE_KEYS, KEYSETS: kv, KEYSET_MAX_STALENESS: '1h' } })).toThrow(
      /^KEYSET_MAX_STALENESS: needs an origin .*the KEYSETS binding alone never confirms/,
    );
  });
});

describe('the verified-token cache at the edge', () => {
  it('stops serving a cached token the moment a pushed keyset revokes its key', async () => {
    const edge = createEdge({ env: { ...EDGE_KEYS } });
    expect((await putKeyset(edge, await seal(await buildKeyset(1, B, [{ secret: A }])))).status).toBe(200);
    const old = await signWithJose(A, { sub: 'a' }, { kid: await computeKid(A) });
    expect(await verifyError(edge, old)).toBeUndefined();
    expect(await verifyError(edge, old)).toBeUndefined();
    // Version 2 has only B: A was revoked (an emergency rotation).
    expect((await putKeyset(edge, await seal(await buildKeyset(2, B)))).status).toBe(200);
    expect(await verifyError(edge, old)).toBe('key_unknown');
  });

  it('reports its counters on /healthz (null when off); a failure is never remembered', async () => {
    const keyset = await seal(await buildKeyset(1, A));
    const token = await signByHand(A, { sub: 'a' });
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    const on = createEdge({ env: { ...EDGE_KEYS } });
    const off = createEdge({ env: { ...EDGE_KEYS, VERIFY_CACHE_SIZE: '0' } });
    for (const edge of [on, off]) {
      expect((await putKeyset(edge, keyset)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect(await verifyError(edge, token)).toBeUndefined();
      for (let i = 0; i < 2; i++) expect(await verifyError(edge, forged)).toBe('signature_invalid');
    }
    expect((await health(on)).body.verify_cache).toEqual({ hits: 2, misses: 3, size: 1 });
    expect((await health(off)).body.verify_cache).toBeNull();
  });

  it('answers the same with VERIFY_CACHE_SIZE=0 (off) as with the default', async () => {
    const token = await signByHand(A, { sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 });
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    for (const size of ['0', '10000']) {
      const edge = createEdge({ env: { ...EDGE_KEYS, VERIFY_CACHE_SIZE: size } });
      await putKeyset(edge, await seal(await buildKeyset(1, A)));
      expect(await verifyError(edge, token)).toBeUndefined();
      expect(await verifyError(edge, token)).toBeUndefined();
      expect(await verifyError(edge, forged)).toBe('signature_invalid');
    }
  });
});
