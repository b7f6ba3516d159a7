/**
 * Issue 4, end to end: a real valkey-server, the real control plane over real gRPC on loopback, the edge under
 * workerd (wrangler dev) and the Node.js entry as a child process. Tokens are signed by hand with node:crypto.
 */
import { type ServiceError, status } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyset, parseKeysetKey } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import { edgeVersion, healthOf, putKeyset, verifyAt } from '../support/edge-http-client.ts';
import { type EdgeProcess, startNodeEdge, startWorkerdEdge } from '../support/edge-processes.ts';
import { freePort } from '../support/free-port.ts';
import { newKeysetKey, newSecret, signToken } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { sleep, waitFor } from '../support/wait-for.ts';

const ACTIVE_KEY = 'jwt_secrets:active';

async function setInValkey(url: string, key: string, value: string): Promise<void> {
  const client = new Valkey(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    await client.set(key, value);
  } finally {
    client.disconnect();
  }
}

async function getFromValkey(url: string, key: string): Promise<string | null> {
  const client = new Valkey(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return await client.get(key);
  } finally {
    client.disconnect();
  }
}

/** Waits (bounded) until the edge holds at least `version`. */
function edgeReaches(edge: EdgeProcess, version: number, timeoutMs: number): Promise<number> {
  return waitFor(
    async () => {
      const held = await edgeVersion(edge.url);
      return held >= version ? held : undefined;
    },
    { what: `the ${edge.runtime} edge to hold keyset version ${version}`, timeoutMs, intervalMs: 100 },
  );
}

async function stopAll(parts: ({ stop(): Promise<void> } | undefined)[]): Promise<void> {
  for (const part of parts) {
    try {
      await part?.stop();
    } catch {
      // Keep stopping the others.
    }
  }
}

describe('rotation end to end: Valkey, control plane over gRPC, workerd edge', () => {
  const keysetKey = newKeysetKey();
  const secrets = Array.from({ length: 5 }, () => newSecret());
  const kids: string[] = [];
  const tokens: string[] = [];
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  let workerd: EdgeProcess | undefined;
  let nodeEdge: EdgeProcess | undefined;
  let nodeEdgePort = 0;
  let envelopeV1 = '';

  const cp = () => harness as Harness;
  const edge = () => workerd as EdgeProcess;

  beforeAll(async () => {
    for (const secret of secrets) {
      const kid = await computeKid(secret);
      kids.push(kid);
      tokens.push(signToken(secret, kid, { sub: `user-of-${kids.length}` }));
    }
    valkey = await startValkey();
    // As the deployment guide leaves it: an existing service already GETs this key.
    await setInValkey(valkey.url, ACTIVE_KEY, secrets[0] as string);
    const workerdPort = await freePort();
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [`http://127.0.0.1:${workerdPort}`],
    });
    workerd = await startWorkerdEdge({ keysetKey, keysetUrl: harness.keysetUrl, port: workerdPort });
    nodeEdgePort = await freePort();
  }, 120_000);

  afterAll(async () => {
    await stopAll([nodeEdge, workerd, harness, valkey]);
  }, 60_000);

  it('imports the pre-set jwt_secrets:active as version 1, and the workerd edge verifies with it', async () => {
    const keyset = await cp().getKeyset();
    expect(keyset.version).toBe(1);
    expect(keyset.keys).toEqual([
      expect.objectContaining({ kid: kids[0], status: 'active', secret_version: 1, expires_at: '' }),
    ]);

    await edgeReaches(edge(), 1, 30_000);
    const answer = await verifyAt(edge().url, tokens[0] as string);
    expect(answer).toEqual({
      status: 200,
      body: { valid: true, kid: kids[0], claims: expect.objectContaining({ sub: 'user-of-1' }) },
    });
  });

  it('RotateSecret answers only once the edge holds the new key; the previous key still verifies', async () => {
    envelopeV1 = await cp().fetchEnvelope();

    const response = await cp().rotate(secrets[1] as string);
    // No sleep, no polling from here on: the push must have landed before the answer.
    const heldRightAfter = await edgeVersion(edge().url);
    const byNewSecret = await verifyAt(edge().url, tokens[1] as string);
    const byPreviousSecret = await verifyAt(edge().url, tokens[0] as string);

    expect(response).toMatchObject({ success: true, version: 2, kid: kids[1] });
    expect(response.edges).toEqual([{ url: edge().url, confirmed: true, version: 2, error: '' }]);
    expect(heldRightAfter).toBe(2);
    expect(byNewSecret).toMatchObject({ status: 200, body: { valid: true, kid: kids[1] } });
    expect(byPreviousSecret).toMatchObject({ status: 200, body: { valid: true, kid: kids[0] } });

    const keyset = await cp().getKeyset();
    expect(keyset.keys.map((key) => [key.kid, key.status])).toEqual([
      [kids[1], 'active'],
      [kids[0], 'previous'],
    ]);
    // What existing services GET follows the rotation (SPEC section 4).
    expect(await getFromValkey((valkey as ValkeyServer).url, ACTIVE_KEY)).toBe(secrets[1]);

    const logs = cp().logLines.join('');
    expect(logs).toContain('Rotating JWT secret');
    for (const secret of secrets.slice(0, 2)) expect(logs).not.toContain(secret);
    expect(logs).not.toContain(cp().adminToken);
  });

  it('refuses a replayed older envelope with 409 and keeps the newer version', async () => {
    expect((await openKeyset(envelopeV1, parseKeysetKey(keysetKey))).version).toBe(1);

    const replay = await putKeyset(edge().url, envelopeV1);
    expect(replay.status).toBe(409);
    expect(await edgeVersion(edge().url)).toBe(2);
    expect(await verifyAt(edge().url, tokens[1] as string)).toMatchObject({ status: 200 });

    // The current envelope again is idempotent.
    const again = await putKeyset(edge().url, await cp().fetchEnvelope());
    expect(again).toEqual({ status: 200, body: { version: 2 } });
  });

  it('an edge that was down during a rotation catches up by pulling KEYSET_URL when it is back', async () => {
    // Not in EDGE_URLS: it only ever gets keysets by pulling.
    const pullOnly = { keysetKey, keysetUrl: cp().keysetUrl, keysetTtl: '1s', port: nodeEdgePort };
    nodeEdge = await startNodeEdge(pullOnly);
    await edgeReaches(nodeEdge, 2, 15_000);
    await nodeEdge.stop();
    nodeEdge = undefined;

    const response = await cp().rotate(secrets[2] as string);
    expect(response).toMatchObject({ success: true, version: 3, kid: kids[2] });

    nodeEdge = await startNodeEdge(pullOnly);
    expect(await edgeReaches(nodeEdge, 3, 15_000)).toBe(3);
    expect(await verifyAt(nodeEdge.url, tokens[2] as string)).toMatchObject({
      status: 200,
      body: { valid: true, kid: kids[2] },
    });
    expect(await verifyAt(nodeEdge.url, tokens[1] as string)).toMatchObject({ status: 200 });
  });

  it('a running edge that missed the push converges through its KEYSET_TTL pull', async () => {
    const pulling = nodeEdge as EdgeProcess;
    const response = await cp().rotate(secrets[3] as string);
    expect(response).toMatchObject({ success: true, version: 4, kid: kids[3] });
    expect(response.edges).toEqual([{ url: edge().url, confirmed: true, version: 4, error: '' }]);

    // Only /healthz is polled (it runs the TTL check); no token with the new kid is shown to the edge, so the
    // unknown-kid pull cannot be what brings it up to date.
    expect(await edgeReaches(pulling, 4, 20_000)).toBe(4);
    expect(await verifyAt(pulling.url, tokens[3] as string)).toMatchObject({
      status: 200,
      body: { valid: true, kid: kids[3] },
    });
  });

  it('a control plane restarted on the same Valkey loses nothing', async () => {
    const before = await cp().getKeyset();
    const { httpPort } = cp().controlPlane;
    const { adminToken } = cp();
    await cp().stop();
    harness = undefined;

    harness = await startHarness({
      valkeyUrl: (valkey as ValkeyServer).url,
      keysetKey,
      edgeUrls: [edge().url],
      httpPort,
      adminToken,
    });
    const after = await cp().getKeyset();
    expect(after.version).toBe(before.version);
    expect(after.issued_at).toBe(before.issued_at);
    expect(after.keys).toEqual(before.keys);
    expect(after.keys.map((key) => key.kid)).toEqual([kids[3], kids[2], kids[1], kids[0]]);
    expect((await openKeyset(await cp().fetchEnvelope(), parseKeysetKey(keysetKey))).version).toBe(4);
    expect(await getFromValkey((valkey as ValkeyServer).url, ACTIVE_KEY)).toBe(secrets[3]);

    // Versions go on from where they were, and every older token still verifies at the edge.
    const response = await cp().rotate(secrets[4] as string);
    expect(response).toMatchObject({ success: true, version: 5, kid: kids[4] });
    expect(response.edges).toEqual([{ url: edge().url, confirmed: true, version: 5, error: '' }]);
    for (const [index, token] of tokens.entries()) {
      expect(await verifyAt(edge().url, token)).toMatchObject({
        status: 200,
        body: { valid: true, kid: kids[index] },
      });
    }
  });

  it('with Valkey gone, edges keep verifying and RotateSecret answers UNAVAILABLE', async () => {
    const pulling = nodeEdge as EdgeProcess;
    await (valkey as ValkeyServer).kill();

    expect(await verifyAt(edge().url, tokens[4] as string)).toMatchObject({ status: 200 });
    expect(await verifyAt(pulling.url, tokens[3] as string)).toMatchObject({ status: 200 });

    const failure = await cp()
      .rotate(newSecret())
      .then(
        () => undefined,
        (error: ServiceError) => error,
      );
    expect(failure?.code).toBe(status.UNAVAILABLE);

    // Still verifying afterwards, with the keyset they hold.
    expect(await verifyAt(edge().url, tokens[4] as string)).toMatchObject({ status: 200 });
    expect(await verifyAt(edge().url, tokens[0] as string)).toMatchObject({ status: 200 });
    const health = await healthOf(edge().url);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', keyset_version: 5 } });
    expect(await verifyAt(pulling.url, tokens[3] as string)).toMatchObject({ status: 200 });
  });
});

describe('grace period end (GRACE_PERIOD=3s): workerd edge', () => {
  const keysetKey = newKeysetKey();
  const oldSecret = newSecret();
  const newerSecret = newSecret();
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  let workerd: EdgeProcess | undefined;

  beforeAll(async () => {
    valkey = await startValkey();
    await setInValkey(valkey.url, ACTIVE_KEY, oldSecret);
    const workerdPort = await freePort();
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [`http://127.0.0.1:${workerdPort}`],
      gracePeriod: '3s',
    });
    workerd = await startWorkerdEdge({ keysetKey, keysetUrl: harness.keysetUrl, port: workerdPort });
    await edgeReaches(workerd, 1, 30_000);
  }, 120_000);

  afterAll(async () => {
    await stopAll([workerd, harness, valkey]);
  }, 60_000);

  it('the previous key verifies until its expires_at, then fails with key_unknown', async () => {
    const cp = harness as Harness;
    const edge = workerd as EdgeProcess;
    const oldKid = await computeKid(oldSecret);
    const newKid = await computeKid(newerSecret);
    const oldToken = signToken(oldSecret, oldKid);
    const oldTokenWithoutKid = signToken(oldSecret, undefined);
    const newToken = signToken(newerSecret, newKid);

    const response = await cp.rotate(newerSecret);
    // Straight after the answer, before anything else, so that the 3 s grace window has room on a busy machine.
    const sentAt = Date.now();
    const inGrace = await verifyAt(edge.url, oldToken);
    const inGraceWithoutKid = await verifyAt(edge.url, oldTokenWithoutKid);
    const answeredAt = Date.now();

    expect(response).toMatchObject({ success: true, version: 2, kid: newKid });
    expect(response.edges).toEqual([{ url: edge.url, confirmed: true, version: 2, error: '' }]);
    const keyset = await cp.getKeyset();
    const previous = keyset.keys.find((key) => key.kid === oldKid);
    const active = keyset.keys.find((key) => key.kid === newKid);
    expect(previous?.status).toBe('previous');
    expect(active?.status).toBe('active');
    const expiresAt = Date.parse(previous?.expires_at ?? '');
    // Superseded when the new key was created, plus the 3 s grace period.
    expect(expiresAt - Date.parse(active?.created_at ?? '')).toBe(3_000);

    expect(sentAt).toBeLessThan(expiresAt);
    expect(answeredAt).toBeLessThan(expiresAt);
    expect(inGrace).toMatchObject({ status: 200, body: { valid: true, kid: oldKid } });
    expect(inGraceWithoutKid).toMatchObject({ status: 200, body: { valid: true, kid: oldKid } });

    const wait = expiresAt + 100 - Date.now();
    expect(wait).toBeLessThanOrEqual(4_000);
    await sleep(Math.max(0, wait));

    expect(await verifyAt(edge.url, oldToken)).toMatchObject({
      status: 401,
      body: { valid: false, error: 'key_unknown' },
    });
    expect(await verifyAt(edge.url, oldTokenWithoutKid)).toMatchObject({
      status: 401,
      body: { valid: false, error: 'signature_invalid' },
    });
    expect(await verifyAt(edge.url, newToken)).toMatchObject({
      status: 200,
      body: { valid: true, kid: newKid },
    });
  });
});
