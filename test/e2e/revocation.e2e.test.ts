/**
 * RevokeTokens end to end (SPEC section 8): the real control plane with a real valkey-server pushes to the Worker
 * under `wrangler dev` (workerd) and the Node, Bun and Deno entry processes, and a Node edge that is never pushed
 * to pulls from the control plane. A token revoked by jti and one revoked by subject are refused at every pushed
 * edge on the first request after the call answers (through the verified-token cache too), a later token of the
 * same subject still verifies, and the pulling edge catches up within KEYSET_REVALIDATE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import { forwardAuthAt, verifyAt } from '../support/edge-http-client.ts';
import {
  type EdgeProcess,
  type EdgeProcessRuntime,
  startBunEdge,
  startDenoEdge,
  startNodeEdge,
  startWorkerdEdge,
} from '../support/edge-processes.ts';
import { freePort } from '../support/free-port.ts';
import { KEYSET_KEY } from '../support/keysets.ts';
import { newSecret, signToken } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitFor } from '../support/wait-for.ts';

const STARTS = { workerd: startWorkerdEdge, node: startNodeEdge, bun: startBunEdge, deno: startDenoEdge };
const RUNTIMES = Object.keys(STARTS) as EdgeProcessRuntime[];

let valkey: ValkeyServer;
let harness: Harness;
const edges: EdgeProcess<EdgeProcessRuntime>[] = [];
let pulling: EdgeProcess;
let secret: string;
let kid: string;

beforeAll(async () => {
  valkey = await startValkey();
  const ports = await Promise.all(RUNTIMES.map(() => freePort()));
  const httpPort = await freePort();
  harness = await startHarness({
    valkeyUrl: valkey.url,
    keysetKey: KEYSET_KEY,
    httpPort,
    edgeUrls: ports.map((port) => `http://127.0.0.1:${port}`),
  });
  // The Node edge verifies through its verified-token cache: a token cached before its revocation must not be
  // served from it after.
  const started = await Promise.allSettled([
    ...RUNTIMES.map((runtime, index) =>
      STARTS[runtime]({
        keysetKey: KEYSET_KEY,
        port: ports[index],
        env: runtime === 'node' ? { VERIFY_CACHE_SIZE: '1000' } : {},
      }),
    ),
    startNodeEdge({
      keysetKey: KEYSET_KEY,
      keysetUrl: harness.keysetUrl,
      env: { KEYSET_REVALIDATE: '1s', KEYSET_TTL: '2s' },
    }),
  ]);
  for (const result of started.slice(0, RUNTIMES.length)) {
    if (result.status === 'fulfilled') edges.push(result.value as EdgeProcess<EdgeProcessRuntime>);
  }
  const last = started.at(-1);
  if (last?.status === 'fulfilled') pulling = last.value as EdgeProcess;
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  secret = newSecret();
  kid = await computeKid(secret);
  const rotated = await harness.rotate(secret);
  expect(rotated.edges.every((edge) => edge.confirmed)).toBe(true);
}, 240_000);

afterAll(async () => {
  await Promise.all([...edges, pulling].filter(Boolean).map((edge) => edge.stop()));
  await harness?.stop();
  await valkey?.stop();
});

const revoke = (jtis: string[], subject = '') => harness.revokeTokens(jtis, subject);

const everyEdge = () => [...edges, pulling].map((edge) => ({ name: edge.runtime, url: edge.url }));

describe('RevokeTokens across every runtime', () => {
  it('refuses a token revoked by jti and the earlier tokens of a revoked subject on the first request after the call', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stolen = signToken(secret, kid, { sub: 'victim', jti: 'stolen-jti', iat: now - 60 });
    const sibling = signToken(secret, kid, { sub: 'victim', jti: 'other-jti', iat: now - 60 });
    const alicesOld = signToken(secret, kid, { sub: 'alice', jti: 'alice-1', iat: now - 60 });
    const alicesNoIat = signToken(secret, kid, { sub: 'alice', jti: 'alice-2', iat: undefined });
    const bobs = signToken(secret, kid, { sub: 'bob', jti: 'bob-1', iat: now - 60 });

    // Every edge verifies them all first (the Node edge's cache now holds them).
    await waitFor(async () => ((await verifyAt(pulling.url, stolen)).status === 200 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the pulling edge to take the keyset',
    });
    for (const { url } of everyEdge()) {
      for (const token of [stolen, sibling, alicesOld, alicesNoIat, bobs]) {
        expect((await verifyAt(url, token)).body).toMatchObject({ valid: true, kid });
      }
    }

    const byJti = await revoke(['stolen-jti']);
    expect(byJti.success).toBe(true);
    expect(byJti.edges).toHaveLength(RUNTIMES.length);
    expect(byJti.edges.filter((edge) => edge.confirmed)).toHaveLength(RUNTIMES.length);
    for (const edge of edges) {
      expect((await verifyAt(edge.url, stolen)).body, edge.runtime).toEqual({
        valid: false,
        error: 'token_revoked',
      });
      const forward = await forwardAuthAt(edge.url, stolen);
      expect(forward.status, edge.runtime).toBe(401);
      expect(forward.headers?.['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect((await verifyAt(edge.url, sibling)).body, edge.runtime).toMatchObject({ valid: true });
    }

    const bySubject = await revoke([], 'alice');
    expect(bySubject.version).toBeGreaterThan(byJti.version);
    expect(bySubject.edges.every((edge) => edge.confirmed)).toBe(true);
    // Issued after the call (a whole second later, whatever the clocks' rounding): not revoked.
    const alicesNew = signToken(secret, kid, { sub: 'alice', jti: 'alice-3', iat: Date.now() / 1000 + 1 });
    for (const edge of edges) {
      for (const token of [alicesOld, alicesNoIat]) {
        expect((await verifyAt(edge.url, token)).body, edge.runtime).toEqual({
          valid: false,
          error: 'token_revoked',
        });
      }
      expect((await verifyAt(edge.url, alicesNew)).body, edge.runtime).toMatchObject({
        valid: true,
        claims: { sub: 'alice' },
      });
      expect((await verifyAt(edge.url, bobs)).body, edge.runtime).toMatchObject({ valid: true });
    }

    // The edge nobody pushes to pulls the list at its next revalidation.
    await waitFor(
      async () =>
        (await verifyAt(pulling.url, stolen)).body.error === 'token_revoked' &&
        (await verifyAt(pulling.url, alicesOld)).body.error === 'token_revoked'
          ? true
          : undefined,
      { timeoutMs: 30_000, what: 'the pulling edge to refuse both revoked tokens' },
    );
    expect((await verifyAt(pulling.url, alicesNew)).body).toMatchObject({ valid: true });
  });
});
