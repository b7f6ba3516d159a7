/**
 * ES256 and EdDSA keys, standby keys and promotion through the real control plane: gRPC over loopback, real Node
 * edges taking its pushes (and an EDGE_URLS target nothing listens on, which never confirms), the JWK Set on
 * HTTP_PORT read by jose's remote JWKS client, and `keyward sign` run as an operator runs it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials, status } from '@grpc/grpc-js';
import { createRemoteJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type KeyAlg, type Keyset, signingJwk } from '../../shared/keyset.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { ROOT } from '../../test/support/edge-processes.ts';
import { freePort } from '../../test/support/free-port.ts';
import { expectStatus, type Outcome, settle } from '../../test/support/grpc-outcome.ts';
import { buildMixedKeyset, EDDSA_PAIR } from '../../test/support/key-pairs.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import type { StageKeyResponse } from '../src/grpc/proto.ts';
import { connectSecretService, type SecretServiceConnection } from '../src/grpc/secret-service-client.ts';
import { rotateIfDue } from '../src/rotation/rotation-due.ts';

const DEADLINE = { deadlineMs: 15_000 };
const JWT_SECRET = randomBytes(48).toString('base64');

interface Setup {
  harness: Harness;
  edges: NodeEdgeServer[];
  /** An EDGE_URLS target with nothing listening: it never confirms. */
  deadUrl?: string;
}

const running: Setup[] = [];

/** A control plane (env storage, in memory) pushing to `edgeCount` real edges and, if asked, a dead target. */
async function start(edgeCount: number, withDeadEdge = false): Promise<Setup> {
  const edges = await Promise.all(Array.from({ length: edgeCount }, () => startNodeEdgeServer(KEYSET_KEY)));
  const deadUrl = withDeadEdge ? `http://127.0.0.1:${await freePort()}` : undefined;
  const harness = await startHarness({
    keysetKey: KEYSET_KEY,
    edgeUrls: [...edges.map((edge) => edge.url), ...(deadUrl ? [deadUrl] : [])],
    env: { SECRET_STORAGE: 'env', JWT_SECRET, KEYSET_CACHE_TTL: '120s' },
  });
  const setup = { harness, edges, deadUrl };
  running.push(setup);
  return setup;
}

afterEach(async () => {
  for (const setup of running.splice(0)) {
    await setup.harness.stop();
    await Promise.all(setup.edges.map((edge) => edge.close()));
  }
});

type Method = 'rotateSecret' | 'stageKey' | 'promoteKey';

/** One RPC over a fresh loopback channel, with the admin token, settled into its response or status. */
async function call<M extends Method>(
  harness: Harness,
  method: M,
  request: Parameters<SecretServiceConnection[M]>[0],
): Promise<Outcome<Awaited<ReturnType<SecretServiceConnection[M]>>>> {
  const connection = connectSecretService(harness.grpcAddress, credentials.createInsecure());
  const send = connection[method] as (
    request: object,
    options: object,
  ) => Promise<Awaited<ReturnType<SecretServiceConnection[M]>>>;
  try {
    return await settle(send({ admin_token: harness.adminToken, ...request }, DEADLINE));
  } finally {
    connection.close();
  }
}

/** The control plane's own keyset (with `d`): what an issuer signs from. */
async function heldKeyset(harness: Harness): Promise<Keyset> {
  return (await harness.controlPlane.manager.keyset()).keyset;
}

async function signActive(harness: Harness, sub: string): Promise<string> {
  const jwk = signingJwk(await heldKeyset(harness));
  const key = await importJWK(jwk, jwk.alg);
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

async function verifyAt(edge: NodeEdgeServer, token: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${edge.url}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return { status: response.status, body: await response.json() };
}

describe.each<KeyAlg>(['EdDSA', 'ES256'])('RotateSecret with alg %s', (alg) => {
  it('installs a generated key pair in one step, and an edge verifies a token signed with its private JWK', async () => {
    const { harness, edges } = await start(1);
    const before = await heldKeyset(harness);
    const outcome = await call(harness, 'rotateSecret', { alg, generate: true });
    expectStatus(outcome, status.OK);
    const after = await heldKeyset(harness);
    expect(after.version).toBe(before.version + 1);
    expect(after.keys[0]).toMatchObject({ alg, status: 'active', kid: outcome.response?.kid });
    expect(after.keys[1]).toMatchObject({ alg: 'HS256', status: 'previous' });
    expect(outcome.response?.edges).toEqual([expect.objectContaining({ confirmed: true })]);
    const token = await signActive(harness, 'rotated');
    expect(await verifyAt(edges[0] as NodeEdgeServer, token)).toMatchObject({
      status: 200,
      body: { valid: true, kid: after.keys[0]?.kid, claims: { sub: 'rotated' } },
    });
    expect(harness.logLines.some((line) => line.includes('Rotating JWT secret') && line.includes(alg))).toBe(
      true,
    );
    // Never the private key in a log line.
    const active = after.keys[0] as { d?: string };
    expect(active.d).toBeTypeOf('string');
    expect(harness.logLines.join('\n')).not.toContain(active.d as string);
  });
});

describe('bad requests change nothing', () => {
  it('unknown alg, a secret for an asymmetric key, promoting the active kid: clear errors, same version', async () => {
    const { harness } = await start(1);
    const version = (await heldKeyset(harness)).version;
    const activeKid = (await heldKeyset(harness)).keys[0]?.kid as string;

    expectStatus(
      await call(harness, 'rotateSecret', { alg: 'RS256', generate: true }),
      status.INVALID_ARGUMENT,
      'Unknown key algorithm "RS256"',
    );
    expectStatus(
      await call(harness, 'rotateSecret', { alg: 'EdDSA', new_secret: randomBytes(48).toString('base64') }),
      status.INVALID_ARGUMENT,
      'the server generates EdDSA key pairs',
    );
    expectStatus(
      await call(harness, 'stageKey', { alg: 'ES256', new_secret: randomBytes(48).toString('base64') }),
      status.INVALID_ARGUMENT,
      'the server generates ES256 key pairs',
    );
    expectStatus(
      await call(harness, 'stageKey', { alg: 'HS384' }),
      status.INVALID_ARGUMENT,
      'Unknown key algorithm',
    );
    expectStatus(await call(harness, 'stageKey', { alg: '' }), status.INVALID_ARGUMENT, 'alg is required');
    expectStatus(
      await call(harness, 'stageKey', { alg: 'HS256', new_secret: 'short' }),
      status.INVALID_ARGUMENT,
      'Secret too weak',
    );
    expectStatus(
      await call(harness, 'promoteKey', { kid: activeKid }),
      status.NOT_FOUND,
      'only the standby key can be promoted',
    );
    expectStatus(
      await call(harness, 'promoteKey', { kid: 'no-such-kid' }),
      status.NOT_FOUND,
      'No key with this kid',
    );
    expectStatus(await call(harness, 'promoteKey', { kid: '' }), status.NOT_FOUND, 'No key with this kid');
    expect((await heldKeyset(harness)).version).toBe(version);
  });

  it('an empty kid names no standby key: NOT_FOUND as an unknown kid, even with force while a key is standby', async () => {
    const { harness } = await start(1);
    const staged = await call(harness, 'stageKey', { alg: 'EdDSA' });
    expectStatus(staged, status.OK);
    const { kid, version } = staged.response as StageKeyResponse;
    const unknown = await call(harness, 'promoteKey', { kid: 'no-such-kid', force: true });
    const empty = await call(harness, 'promoteKey', { kid: '', force: true });
    expectStatus(empty, status.NOT_FOUND, 'No key with this kid');
    expect(empty.error?.details).toBe(unknown.error?.details);
    const held = await heldKeyset(harness);
    expect(held.version).toBe(version);
    expect(held.keys.find((key) => key.kid === kid)?.status).toBe('standby');
  });
});

describe('StageKey and PromoteKey', () => {
  it('stages a standby key every edge holds, refuses a second one, and promotes it with grace for the old key', async () => {
    const { harness, edges } = await start(2);
    const staged = await call(harness, 'stageKey', { alg: 'EdDSA' });
    expectStatus(staged, status.OK);
    const { kid, version, edges: pushed } = staged.response as StageKeyResponse;
    expect(pushed.map((edge) => [edge.confirmed, edge.version])).toEqual([
      [true, version],
      [true, version],
    ]);
    for (const edge of edges) expect(edge.edge.store.version).toBe(version);
    const held = await heldKeyset(harness);
    expect(held.keys.find((key) => key.kid === kid)).toMatchObject({ alg: 'EdDSA', status: 'standby' });
    const listed = await harness.getKeyset();
    expect(listed.keys.find((key) => key.kid === kid)).toMatchObject({ alg: 'EdDSA', status: 'standby' });

    expectStatus(
      await call(harness, 'stageKey', { alg: 'ES256' }),
      status.FAILED_PRECONDITION,
      'already standby',
    );
    expect((await heldKeyset(harness)).version).toBe(version);

    const oldActive = held.keys.find((key) => key.status === 'active');
    const before = Date.now();
    const promoted = await call(harness, 'promoteKey', { kid });
    expectStatus(promoted, status.OK);
    const after = await heldKeyset(harness);
    expect(after.version).toBe(version + 1);
    expect(after.keys.find((key) => key.kid === kid)?.status).toBe('active');
    const demoted = after.keys.find((key) => key.kid === oldActive?.kid);
    expect(demoted?.status).toBe('previous');
    // GRACE_PERIOD is the harness's 24h.
    expect(Date.parse(demoted?.expires_at as string)).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 1000);
    const token = await signActive(harness, 'promoted');
    for (const edge of edges) expect((await verifyAt(edge, token)).status).toBe(200);
    expect(harness.logLines.some((line) => line.includes('Staging standby key'))).toBe(true);
    expect(harness.logLines.some((line) => line.includes('Rotating JWT secret: promoting standby key'))).toBe(
      true,
    );
  });

  it('refuses to promote while an edge has not confirmed the key, naming 1 of N; force promotes and warns', async () => {
    const { harness, edges, deadUrl } = await start(2, true);
    const staged = await call(harness, 'stageKey', { alg: 'ES256' });
    expectStatus(staged, status.OK);
    const { kid, version } = staged.response as StageKeyResponse;

    const refused = await call(harness, 'promoteKey', { kid });
    expectStatus(refused, status.FAILED_PRECONDITION, '1 of 3 edges have not confirmed');
    expect(refused.error?.details).toContain(deadUrl);
    expect((await heldKeyset(harness)).version).toBe(version);
    expect((await heldKeyset(harness)).keys.find((key) => key.kid === kid)?.status).toBe('standby');

    const forced = await call(harness, 'promoteKey', { kid, force: true, emergency: true });
    expectStatus(forced, status.OK);
    const after = await heldKeyset(harness);
    // Emergency: the old active key is gone at once.
    expect(after.keys.map((key) => [key.kid, key.status])).toEqual([[kid, 'active']]);
    const warning = harness.logLines
      .map((line) => JSON.parse(line))
      .find((line) => /with force/.test(line.msg));
    expect(warning).toMatchObject({ level: 40, kid });
    const token = await signActive(harness, 'forced');
    for (const edge of edges) expect((await verifyAt(edge, token)).status).toBe(200);
  });
});

describe('GET /.well-known/jwks.json', () => {
  let setup: Setup;
  let tokens: { alg: KeyAlg; token: string }[];

  beforeAll(async () => {
    // A keyset holding an HS256 previous key, an ES256 previous key, and an EdDSA active one.
    setup = await start(1);
    tokens = [];
    for (const alg of ['ES256', 'EdDSA'] as const) {
      expectStatus(await call(setup.harness, 'rotateSecret', { alg, generate: true }), status.OK);
      tokens.push({ alg, token: await signActive(setup.harness, `jwks-${alg}`) });
    }
    running.splice(running.indexOf(setup), 1);
    return async () => {
      await setup.harness.stop();
      await Promise.all(setup.edges.map((edge) => edge.close()));
    };
  });

  it('serves the public keys only, with a strong ETag, 304 on If-None-Match, and a bounded Cache-Control', async () => {
    const url = `${setup.harness.httpUrl}/.well-known/jwks.json`;
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    // min(300 s, KEYSET_CACHE_TTL = 120 s)
    expect(response.headers.get('cache-control')).toBe('public, max-age=120');
    const etag = response.headers.get('etag') as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    const text = await response.text();
    const body = JSON.parse(text) as { keys: Record<string, string>[] };
    const held = await heldKeyset(setup.harness);
    const asymmetric = held.keys.filter((key) => key.alg !== 'HS256');
    expect(body.keys.map((key) => key.kid).sort()).toEqual(asymmetric.map((key) => key.kid).sort());
    for (const key of body.keys) {
      expect(key.use).toBe('sig');
      expect(key).not.toHaveProperty('d');
      expect(key).not.toHaveProperty('k');
    }
    for (const key of held.keys) {
      if (key.alg === 'HS256') expect(text).not.toContain(key.k);
      else expect(text).not.toContain(key.d as string);
    }
    expect(held.keys.some((key) => key.alg === 'HS256')).toBe(true);

    const cached = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe('');
    const other = await fetch(url, { headers: { 'if-none-match': '"something-else"' } });
    expect(other.status).toBe(200);
  });

  it("jose's createRemoteJWKSet verifies Keyward ES256 and EdDSA tokens against it", async () => {
    const keys = createRemoteJWKSet(new URL(`${setup.harness.httpUrl}/.well-known/jwks.json`));
    for (const { alg, token } of tokens) {
      const { payload, protectedHeader } = await jwtVerify(token, keys);
      expect(protectedHeader.alg).toBe(alg);
      expect(payload.sub).toBe(`jwks-${alg}`);
    }
  });

  it('`keyward sign --jwk` with a private ES256 or EdDSA JWK makes tokens the JWK Set verifies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyward-sign-'));
    try {
      const keys = createRemoteJWKSet(new URL(`${setup.harness.httpUrl}/.well-known/jwks.json`));
      const held = await heldKeyset(setup.harness);
      for (const alg of ['ES256', 'EdDSA'] as const) {
        const entry = held.keys.find((key) => key.alg === alg) as Keyset['keys'][number] & { d: string };
        const { status: _s, created_at: _c, expires_at: _e, version: _v, ...jwk } = entry;
        const file = join(dir, `${alg}.jwk`);
        await writeFile(file, JSON.stringify(jwk));
        const { stdout } = await promisify(execFile)(
          process.execPath,
          [join(ROOT, 'control-plane/src/cli.ts'), 'sign', '--jwk', file, '--sub', `cli-${alg}`],
          { cwd: ROOT, timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } },
        );
        const { payload, protectedHeader } = await jwtVerify(stdout.trim(), keys);
        expect(protectedHeader).toMatchObject({ alg, kid: entry.kid });
        expect(payload.sub).toBe(`cli-${alg}`);
      }
      // A public JWK cannot sign: one line, no stack trace.
      const file = join(dir, 'public.jwk');
      await writeFile(file, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: EDDSA_PAIR.x, alg: 'EdDSA' }));
      const failure = await promisify(execFile)(
        process.execPath,
        [join(ROOT, 'control-plane/src/cli.ts'), 'sign', '--jwk', file],
        { cwd: ROOT, timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } },
      ).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code).toBe(2);
      expect(failure?.stderr.trim().split('\n')).toEqual([
        expect.stringContaining('a public JWK cannot sign'),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('scheduled rotation', () => {
  it('keeps the active key algorithm: an EdDSA keyset rotates to a new EdDSA key', async () => {
    const keyset = await buildMixedKeyset(3, [{ key: EDDSA_PAIR }]);
    const now = new Date(Date.parse(keyset.keys[0]?.created_at as string) + 10_000);
    const next = await rotateIfDue(1_000, { now: () => now, gracePeriodMs: 60_000 })({
      keyset,
      envelope: null,
    });
    expect(next?.keys.map((key) => [key.alg, key.status])).toEqual([
      ['EdDSA', 'active'],
      ['EdDSA', 'previous'],
    ]);
    expect(next?.keys[0]?.kid).not.toBe(EDDSA_PAIR.kid);
  });
});
