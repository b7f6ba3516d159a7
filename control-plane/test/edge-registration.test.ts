/**
 * Edges that register themselves (POST /edges), with two control-plane replicas on one real valkey-server and a
 * real Node edge process that knows only the control plane's URL: both replicas push to it and count it for
 * confirmation, a lease that is not renewed expires, and bad registrations are refused, changing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { verifyAt } from '../../test/support/edge-http-client.ts';
import { type EdgeProcess, startNodeEdge } from '../../test/support/edge-processes.ts';
import { freePort } from '../../test/support/free-port.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { newSecret, signToken } from '../../test/support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { waitFor } from '../../test/support/wait-for.ts';

const TOKEN = 'registration-token-for-the-tests-0123456789';
const env = { EDGE_REGISTRATION_TOKEN: TOKEN, EDGE_LEASE: '2s' };

let valkey: ValkeyServer;
let a: Harness;
let b: Harness;
let edge: EdgeProcess | undefined;
let edgeUrl: string;

beforeAll(async () => {
  valkey = await startValkey();
  a = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY, env });
  b = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY, env });
  const port = await freePort();
  edgeUrl = `http://127.0.0.1:${port}`;
  edge = await startNodeEdge({
    keysetKey: KEYSET_KEY,
    port,
    env: { EDGE_PUBLIC_URL: edgeUrl, EDGE_REGISTRATION_TOKEN: TOKEN, CONTROL_PLANE_URL: a.httpUrl },
  });
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await a?.stop();
  await b?.stop();
  await valkey?.stop();
});

const listed = async (harness: Harness) =>
  (await harness.getKeyset()).edges.find((state) => state.url === edgeUrl);

function register(harness: Harness, body: string, authorization = `Bearer ${TOKEN}`) {
  return fetch(`${harness.httpUrl}/edges`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body,
  });
}

describe('edge self-registration', () => {
  it('pushes to a registered edge from every replica and counts it for confirmation', async () => {
    // Registered with A, which pushes the keyset to it at once; B reads the lease within a third of EDGE_LEASE.
    const version = (await a.getKeyset()).version;
    await waitFor(async () => ((await listed(a))?.confirmed_version === version ? true : undefined), {
      timeoutMs: 15_000,
      what: 'replica A to push to the edge that registered',
    });
    await waitFor(async () => ((await listed(b)) ? true : undefined), {
      timeoutMs: 15_000,
      what: 'replica B to see the registration',
    });
    const secret = newSecret();
    const rotated = await b.rotate(secret);
    expect(rotated.edges).toEqual([expect.objectContaining({ url: edgeUrl, confirmed: true })]);
    const token = signToken(secret, await computeKid(secret));
    expect((await verifyAt(edgeUrl, token)).body).toMatchObject({ valid: true });
  });

  it('refuses a wrong token, a bad URL and an oversized body, registering nothing', async () => {
    const before = (await a.getKeyset()).edges.map((state) => state.url);
    const cases: [Promise<Response>, number][] = [
      [register(a, JSON.stringify({ url: 'http://127.0.0.1:9/x' }), 'Bearer wrong-token'), 401],
      [register(a, JSON.stringify({ url: 'http://127.0.0.1:9/x' }), ''), 401],
      [register(a, JSON.stringify({ url: 'ftp://127.0.0.1/' })), 400],
      [register(a, JSON.stringify({ url: 'http://user:pw@127.0.0.1:9/' })), 400],
      [register(a, JSON.stringify({ url: 'http://127.0.0.1:9/?x=1' })), 400],
      [register(a, JSON.stringify({ url: `http://127.0.0.1:9/${'a'.repeat(2100)}` })), 400],
      [register(a, 'not json'), 400],
      [register(a, JSON.stringify({ url: 'http://127.0.0.1:9/', pad: 'x'.repeat(5000) })), 413],
    ];
    for (const [answer, status] of cases) {
      const response = await answer;
      expect(response.status).toBe(status);
      expect(JSON.stringify(await response.json())).not.toContain(TOKEN);
    }
    expect((await a.getKeyset()).edges.map((state) => state.url)).toEqual(before);
  });

  it('answers 404 where registration is off', async () => {
    const off = await startHarness({ valkeyUrl: valkey.url, keysetKey: KEYSET_KEY });
    try {
      const response = await register(off, JSON.stringify({ url: 'http://127.0.0.1:9/' }));
      expect(response.status).toBe(404);
      await response.body?.cancel();
    } finally {
      await off.stop();
    }
  });

  it('forgets an edge whose lease is not renewed', async () => {
    await edge?.stop();
    edge = undefined;
    await waitFor(
      async () => ((await listed(a)) === undefined && (await listed(b)) === undefined ? true : undefined),
      {
        timeoutMs: 20_000,
        what: 'both replicas to drop the edge once its lease expired',
      },
    );
    const rotated = await a.rotate(newSecret());
    expect(rotated.edges).toEqual([]);
  });
});
