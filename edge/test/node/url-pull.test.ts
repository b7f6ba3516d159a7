import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { computeKid } from '../../../shared/kid.ts';
import { health, postVerify, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  FOREIGN_KEYSET_KEY,
  KEYSET_KEY,
  seal,
  secret,
  signByHand,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import type { KeysetKv } from '../../src/env.ts';
import { SOURCE_DEADLINE_MS, UNKNOWN_KID_COOLDOWN_MS } from '../../src/keyset/keyset-sync.ts';

/** Stands in for the control plane's keyset endpoint: the test's own server, envelope body, ETag, 304. */
const origin = {
  envelope: '' as string | Buffer,
  /** Accept the request and never answer. */
  hang: false,
  etag: '"0"',
  status: 200,
  hits: 0,
  conditionalHits: 0,
};
let server: Server;
let keysetUrl: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    origin.hits++;
    if (origin.hang) return;
    if (origin.status !== 200) {
      response.writeHead(origin.status).end();
      return;
    }
    if (request.headers['if-none-match'] === origin.etag) {
      origin.conditionalHits++;
      response.writeHead(304, { etag: origin.etag }).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/jose', etag: origin.etag }).end(origin.envelope);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  keysetUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/keyset`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function serve(version: number, active: string, previous: string[] = []) {
  const keyset = await buildKeyset(
    version,
    active,
    previous.map((s) => ({ secret: s })),
  );
  origin.envelope = await seal(keyset);
  origin.etag = `"v${version}"`;
  origin.status = 200;
  origin.hang = false;
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

describe('pulling from KEYSET_URL (a real HTTP server on loopback)', () => {
  let now = Date.parse('2026-06-01T00:00:00Z');
  let edge: Edge;
  const logs: string[] = [];

  it('pulls at cold start, before answering the first request', async () => {
    await serve(1, A);
    edge = createEdge({
      env: { KEYSET_KEY, KEYSET_URL: keysetUrl, KEYSET_TTL: '300s' },
      now: () => now,
      log: (line) => logs.push(line),
    });
    expect(await verifyError(edge, await signByHand(A, { sub: 'a' }))).toBeUndefined();
    expect(origin.hits).toBe(1);
    expect((await health(edge)).body).toMatchObject({ keyset_version: 1 });
  });

  it('revalidates with If-None-Match once the keyset is older than KEYSET_TTL', async () => {
    now += 299_000;
    await health(edge);
    expect(origin.hits).toBe(1);
    now += 1_000;
    await health(edge);
    expect(await until(() => origin.conditionalHits === 1)).toBe(true);
    // Confirmed fresh by the 304: no further pull until another TTL has passed.
    await health(edge);
    expect(origin.hits).toBe(2);
  });

  it('takes a newer version on the next TTL pull, serving the held one meanwhile', async () => {
    await serve(2, B, [A]);
    now += 300_000;
    expect(await verifyError(edge, await signByHand(A, { sub: 'a' }))).toBeUndefined();
    expect(await until(async () => (await health(edge)).body.keyset_version === 2)).toBe(true);
  });

  it('pulls for an unknown kid at once, at most once per cooldown, coalescing concurrent requests', async () => {
    await serve(3, C, [B]);
    const hits = origin.hits;
    const token = await signWithJose(C, { sub: 'c' }, { kid: await computeKid(C) });
    const answers = await Promise.all(Array.from({ length: 10 }, () => postVerify(edge, token)));
    expect(answers.map((response) => response.status)).toEqual(Array(10).fill(200));
    expect(origin.hits).toBe(hits + 1);

    await serve(4, D, [C]);
    const early = await signWithJose(D, { sub: 'd' }, { kid: await computeKid(D) });
    now += UNKNOWN_KID_COOLDOWN_MS - 1;
    expect(await verifyError(edge, early)).toBe('key_unknown');
    expect(origin.hits).toBe(hits + 1);
    now += 1;
    expect(await verifyError(edge, early)).toBeUndefined();
    expect(origin.hits).toBe(hits + 2);
  });

  it('does not pull for a known kid that expired, nor for a token without kid', async () => {
    const hits = origin.hits;
    now += UNKNOWN_KID_COOLDOWN_MS;
    expect(await verifyError(edge, await signByHand(secret('nobody'), { sub: 'x' }))).toBe(
      'signature_invalid',
    );
    expect(origin.hits).toBe(hits);
  });

  it('ignores an older version from the origin and keeps serving through origin failures', async () => {
    await serve(2, B, [A]);
    now += 300_000;
    expect(await edge.refresh('stale')).toMatchObject({ taken: false, version: 4, failures: [] });
    expect((await health(edge)).body).toMatchObject({ keyset_version: 4 });

    origin.status = 500;
    now += 300_000;
    const hits = origin.hits;
    await health(edge);
    expect(await until(() => origin.hits > hits)).toBe(true);
    expect(await until(() => logs.some((line) => line.includes('KEYSET_URL answered 500')))).toBe(true);
    expect(await verifyError(edge, await signByHand(D, { sub: 'd' }))).toBeUndefined();
    expect(logs.join('\n')).not.toContain(D);
  });

  it('the scheduled refresh pulls regardless of TTL; pushes and pulls share the accept path', async () => {
    await serve(6, secret('url-f'), [D]);
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: true, version: 6, failures: [] });
    const replay = await putKeyset(edge, await seal(await buildKeyset(5, secret('url-e'))));
    expect(replay.status).toBe(409);
  });
});

describe('KEYSET_MAX_STALENESS: failing closed when no source confirms the keyset', () => {
  it('keeps verifying through origin failures until the limit, then answers 503 until a pull confirms', async () => {
    let now = Date.parse('2026-07-01T00:00:00Z');
    await serve(1, A);
    const edge = createEdge({
      env: { KEYSET_KEY, KEYSET_URL: keysetUrl, KEYSET_TTL: '60s', KEYSET_MAX_STALENESS: '10m' },
      now: () => now,
      log: () => {},
    });
    const token = await signByHand(A, { sub: 'a' });
    expect(await verifyError(edge, token)).toBeUndefined();

    origin.status = 503;
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
    const hits = origin.hits;
    expect(await health(edge)).toMatchObject({
      status: 503,
      body: { status: 'stale', keyset_version: 1, keyset_confirmed_s: 600 },
    });

    origin.status = 200;
    // The failed pull just now holds the next one back for the retry interval: still 503, no pull.
    expect((await postVerify(edge, token)).status).toBe(503);
    expect(origin.hits).toBe(hits);
    now += 5_000;
    expect(await verifyError(edge, token)).toBeUndefined();
    expect(await health(edge)).toMatchObject({ status: 200, body: { status: 'ok', keyset_confirmed_s: 0 } });
  });

  it('an answer that does not open, or is older than the held keyset, confirms nothing', async () => {
    let now = Date.parse('2026-07-02T00:00:00Z');
    await serve(2, B, [A]);
    const edge = createEdge({
      env: { KEYSET_KEY, KEYSET_URL: keysetUrl, KEYSET_TTL: '60s', KEYSET_MAX_STALENESS: '5m' },
      now: () => now,
      log: () => {},
    });
    const token = await signByHand(B, { sub: 'b' });
    expect(await verifyError(edge, token)).toBeUndefined();
    // The origin now answers 200 with an envelope under another key, then with an older version.
    origin.envelope = await seal(await buildKeyset(3, C), FOREIGN_KEYSET_KEY);
    origin.etag = '"foreign"';
    for (let minute = 1; minute <= 5; minute++) {
      now += 60_000;
      if (minute === 3) await serve(1, A);
      await verifyError(edge, token);
      await edge.refresh('stale');
    }
    now += 1;
    expect((await postVerify(edge, token)).status).toBe(503);
  });

  it('a 200 whose body is not UTF-8 is a failed pull, not a confirmation', async () => {
    let now = Date.parse('2026-07-03T00:00:00Z');
    await serve(1, A);
    const edge = createEdge({
      env: { KEYSET_KEY, KEYSET_URL: keysetUrl, KEYSET_TTL: '60s', KEYSET_MAX_STALENESS: '5m' },
      now: () => now,
      log: () => {},
    });
    const token = await signByHand(A, { sub: 'a' });
    expect(await verifyError(edge, token)).toBeUndefined();
    origin.envelope = Buffer.from([0x65, 0x79, 0xff, 0xfe]);
    origin.etag = '"not-utf8"';
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
    await serve(1, A);
    origin.hang = true;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const edge = createEdge({ env: { KEYSET_KEY, KEYSET_URL: keysetUrl }, log: () => {} });
      const hits = origin.hits;
      const pull = edge.refresh('cold');
      // setTimeout is fake here: wait for the request to reach the origin on the event loop's own turns.
      for (let turn = 0; turn < 100_000 && origin.hits === hits; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(origin.hits).toBe(hits + 1);
      await vi.advanceTimersByTimeAsync(SOURCE_DEADLINE_MS);
      const report = await pull;
      expect(report).toMatchObject({ taken: false, version: 0 });
      expect(report.failures).toEqual([`KEYSET_URL: pull_failed: no answer within ${SOURCE_DEADLINE_MS} ms`]);
      // The next pull is a new one, not the stuck one.
      origin.hang = false;
      expect(await edge.refresh('scheduled')).toMatchObject({ taken: true, version: 1 });
    } finally {
      vi.useRealTimers();
      server.closeAllConnections();
    }
  });

  it('a replayed old envelope pushed into a fresh edge is replaced by the origin on the next request', async () => {
    await serve(4, D, [C]);
    const edge = createEdge({ env: { KEYSET_KEY, KEYSET_URL: keysetUrl }, log: () => {} });
    // An attacker's copy of version 1, with a key long retired.
    expect((await putKeyset(edge, await seal(await buildKeyset(1, A)))).status).toBe(200);
    await health(edge);
    expect(await until(async () => (await health(edge)).body.keyset_version === 4)).toBe(true);
    expect(await verifyError(edge, await signByHand(A, { sub: 'a' }))).toBe('signature_invalid');
  });

  it('refuses a limit no pull could honour, or one with no source to confirm it', () => {
    expect(() =>
      createEdge({ env: { KEYSET_KEY, KEYSET_URL: keysetUrl, KEYSET_MAX_STALENESS: '60s' } }),
    ).toThrow(/^KEYSET_MAX_STALENESS: must be longer than KEYSET_TTL/);
    expect(() => createEdge({ env: { KEYSET_KEY, KEYSET_MAX_STALENESS: '1h' } })).toThrow(
      /^KEYSET_MAX_STALENESS: needs an origin/,
    );
    // KV holds copies the edges wrote themselves: it never confirms, so it cannot honour the limit either
    // (config refuses before the binding is touched, so an empty object stands in for it).
    const kv = {} as KeysetKv;
    expect(() => createEdge({ env: { KEYSET_KEY, KEYSETS: kv, KEYSET_MAX_STALENESS: '1h' } })).toThrow(
      /^KEYSET_MAX_STALENESS: needs an origin .*the KEYSETS binding alone never confirms/,
    );
  });
});

describe('the verified-token cache at the edge', () => {
  it('stops serving a cached token the moment a pushed keyset revokes its key', async () => {
    const edge = createEdge({ env: { KEYSET_KEY } });
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
    const on = createEdge({ env: { KEYSET_KEY } });
    const off = createEdge({ env: { KEYSET_KEY, VERIFY_CACHE_SIZE: '0' } });
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
      const edge = createEdge({ env: { KEYSET_KEY, VERIFY_CACHE_SIZE: size } });
      await putKeyset(edge, await seal(await buildKeyset(1, A)));
      expect(await verifyError(edge, token)).toBeUndefined();
      expect(await verifyError(edge, token)).toBeUndefined();
      expect(await verifyError(edge, forged)).toBe('signature_invalid');
    }
  });
});
