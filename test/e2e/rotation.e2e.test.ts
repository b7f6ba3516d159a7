/**
 * End to end: a real valkey-server, the real control plane over real gRPC on loopback, the edge under workerd
 * (wrangler dev) and the Node.js entry as a child process. Tokens are signed by hand with node:crypto. The parts
 * of each describe are shared, but every test brings its own secrets and reads the version it starts from, so
 * each passes alone (`-t`) and in any order.
 */
import { type ServiceError, status } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyset, parseKeysetKey } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import type { EdgeAnswer } from '../support/edge-http-client.ts';
import { edgeVersion, healthOf, putKeyset, verifyAt } from '../support/edge-http-client.ts';
import { type EdgeProcess, startNodeEdge, startWorkerdEdge } from '../support/edge-processes.ts';
import { freePort } from '../support/free-port.ts';
import { openingKeysFor } from '../support/keysets.ts';
import { newKeysetKey, newSecret, signToken } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitFor } from '../support/wait-for.ts';

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

/** A secret with its kid and a token it signed. */
async function keyOf(secret: string, sub: string) {
  const kid = await computeKid(secret);
  return { secret, kid, token: signToken(secret, kid, { sub }) };
}

/** A pull-only Node edge (not in EDGE_URLS), stopped when the test ends. */
async function withPullingNodeEdge<T>(
  options: { keysetKey: string; keysetUrl: string; port: number },
  run: (start: () => Promise<EdgeProcess>, stop: () => Promise<void>) => Promise<T>,
): Promise<T> {
  let edge: EdgeProcess | undefined;
  const stop = async () => {
    await edge?.stop();
    edge = undefined;
  };
  try {
    return await run(async () => {
      edge = await startNodeEdge({ ...options, keysetTtl: '1s' });
      return edge;
    }, stop);
  } finally {
    await stop();
  }
}

describe('rotation end to end: Valkey, control plane over gRPC, workerd edge', () => {
  const keysetKey = newKeysetKey();
  const seedSecret = newSecret();
  let seed: Awaited<ReturnType<typeof keyOf>>;
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  let workerd: EdgeProcess | undefined;
  /** The keyset as the control plane first read it, before any test rotated. */
  let firstKeyset: Awaited<ReturnType<Harness['getKeyset']>>;

  const cp = () => harness as Harness;
  const edge = () => workerd as EdgeProcess;
  const valkeyUrl = () => (valkey as ValkeyServer).url;

  beforeAll(async () => {
    seed = await keyOf(seedSecret, 'user-of-the-seed');
    valkey = await startValkey();
    // As the deployment guide leaves it: an existing service already GETs this key.
    await setInValkey(valkey.url, ACTIVE_KEY, seedSecret);
    const workerdPort = await freePort();
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [`http://127.0.0.1:${workerdPort}`],
    });
    firstKeyset = await harness.getKeyset();
    workerd = await startWorkerdEdge({ keysetKey, keysetUrl: harness.keysetUrl, port: workerdPort });
  }, 120_000);

  afterAll(async () => {
    await stopAll([workerd, harness, valkey]);
  }, 60_000);

  it('imports the pre-set jwt_secrets:active as version 1, and the workerd edge verifies with it', async () => {
    expect(firstKeyset.version).toBe(1);
    expect(firstKeyset.keys).toEqual([
      expect.objectContaining({ kid: seed.kid, status: 'active', secret_version: 1, expires_at: '' }),
    ]);

    await edgeReaches(edge(), 1, 30_000);
    // Active, or previous within the 24 h grace if another test rotated first: it verifies either way.
    const answer = await verifyAt(edge().url, seed.token);
    expect(answer).toEqual({
      status: 200,
      body: { valid: true, kid: seed.kid, claims: expect.objectContaining({ sub: 'user-of-the-seed' }) },
    });
  });

  it('RotateSecret answers only once the edge holds the new key; the previous key still verifies', async () => {
    const { version } = await cp().getKeyset();
    const previous = await keyOf(
      (await getFromValkey(valkeyUrl(), ACTIVE_KEY)) as string,
      'user-of-previous',
    );
    const next = await keyOf(newSecret(), 'user-of-next');

    const response = await cp().rotate(next.secret);
    // No sleep, no polling from here on: the push must have landed before the answer.
    const heldRightAfter = await edgeVersion(edge().url);
    const byNewSecret = await verifyAt(edge().url, next.token);
    const byPreviousSecret = await verifyAt(edge().url, previous.token);

    expect(response).toMatchObject({ success: true, version: version + 1, kid: next.kid });
    expect(response.edges).toEqual([{ url: edge().url, confirmed: true, version: version + 1, error: '' }]);
    expect(heldRightAfter).toBe(version + 1);
    expect(byNewSecret).toMatchObject({ status: 200, body: { valid: true, kid: next.kid } });
    expect(byPreviousSecret).toMatchObject({ status: 200, body: { valid: true, kid: previous.kid } });

    const keyset = await cp().getKeyset();
    expect(keyset.keys.slice(0, 2).map((key) => [key.kid, key.status])).toEqual([
      [next.kid, 'active'],
      [previous.kid, 'previous'],
    ]);
    // What existing services GET follows the rotation (SPEC section 4).
    expect(await getFromValkey(valkeyUrl(), ACTIVE_KEY)).toBe(next.secret);

    const logs = cp().logLines.join('');
    expect(logs).toContain('Rotating JWT secret');
    for (const secret of [previous.secret, next.secret]) expect(logs).not.toContain(secret);
    expect(logs).not.toContain(cp().adminToken);
  });

  it('refuses a replayed older envelope with 409 and keeps the newer version', async () => {
    const older = await cp().fetchEnvelope();
    const olderVersion = (await openKeyset(older, openingKeysFor(parseKeysetKey(keysetKey)))).version;
    const next = await keyOf(newSecret(), 'user-after-replay');
    expect(await cp().rotate(next.secret)).toMatchObject({ success: true, version: olderVersion + 1 });

    const replay = await putKeyset(edge().url, older);
    expect(replay.status).toBe(409);
    expect(await edgeVersion(edge().url)).toBe(olderVersion + 1);
    expect(await verifyAt(edge().url, next.token)).toMatchObject({ status: 200 });

    // The current envelope again is idempotent.
    const again = await putKeyset(edge().url, await cp().fetchEnvelope());
    expect(again).toMatchObject({ status: 200, body: { version: olderVersion + 1 } });
  });

  it('an edge that was down during a rotation catches up by pulling KEYSET_URL when it is back', async () => {
    const { version } = await cp().getKeyset();
    const previous = await keyOf(
      (await getFromValkey(valkeyUrl(), ACTIVE_KEY)) as string,
      'user-of-previous',
    );
    const next = await keyOf(newSecret(), 'user-while-down');
    // Not in EDGE_URLS: it only ever gets keysets by pulling.
    const pullOnly = { keysetKey, keysetUrl: cp().keysetUrl, port: await freePort() };
    await withPullingNodeEdge(pullOnly, async (start, stop) => {
      await edgeReaches(await start(), version, 15_000);
      await stop();

      const response = await cp().rotate(next.secret);
      expect(response).toMatchObject({ success: true, version: version + 1, kid: next.kid });

      const back = await start();
      expect(await edgeReaches(back, version + 1, 15_000)).toBe(version + 1);
      expect(await verifyAt(back.url, next.token)).toMatchObject({
        status: 200,
        body: { valid: true, kid: next.kid },
      });
      expect(await verifyAt(back.url, previous.token)).toMatchObject({ status: 200 });
    });
  });

  it('a running edge that missed the push converges through its KEYSET_TTL pull', async () => {
    const { version } = await cp().getKeyset();
    const next = await keyOf(newSecret(), 'user-missed-push');
    const pullOnly = { keysetKey, keysetUrl: cp().keysetUrl, port: await freePort() };
    await withPullingNodeEdge(pullOnly, async (start) => {
      const pulling = await start();
      await edgeReaches(pulling, version, 15_000);

      const response = await cp().rotate(next.secret);
      expect(response).toMatchObject({ success: true, version: version + 1, kid: next.kid });
      expect(response.edges).toEqual([{ url: edge().url, confirmed: true, version: version + 1, error: '' }]);

      // Only /healthz is polled (it runs the TTL check); no token with the new kid is shown to the edge, so the
      // unknown-kid pull cannot be what brings it up to date.
      expect(await edgeReaches(pulling, version + 1, 20_000)).toBe(version + 1);
      expect(await verifyAt(pulling.url, next.token)).toMatchObject({
        status: 200,
        body: { valid: true, kid: next.kid },
      });
    });
  });

  it('a control plane restarted on the same Valkey loses nothing', async () => {
    const before = await cp().getKeyset();
    const previous = await keyOf(
      (await getFromValkey(valkeyUrl(), ACTIVE_KEY)) as string,
      'user-of-previous',
    );
    const { httpPort } = cp().controlPlane;
    const { adminToken } = cp();
    await cp().stop();
    harness = undefined;

    harness = await startHarness({
      valkeyUrl: valkeyUrl(),
      keysetKey,
      edgeUrls: [edge().url],
      httpPort,
      adminToken,
    });
    const after = await cp().getKeyset();
    expect(after.version).toBe(before.version);
    expect(after.issued_at).toBe(before.issued_at);
    expect(after.keys).toEqual(before.keys);
    expect(after.keys[0]?.kid).toBe(previous.kid);
    expect(after.keys.at(-1)?.kid).toBe(seed.kid);
    expect(
      (await openKeyset(await cp().fetchEnvelope(), openingKeysFor(parseKeysetKey(keysetKey)))).version,
    ).toBe(before.version);
    expect(await getFromValkey(valkeyUrl(), ACTIVE_KEY)).toBe(previous.secret);

    // Versions go on from where they were, and the older tokens still verify at the edge.
    const next = await keyOf(newSecret(), 'user-after-restart');
    const response = await cp().rotate(next.secret);
    expect(response).toMatchObject({ success: true, version: before.version + 1, kid: next.kid });
    expect(response.edges).toEqual([
      { url: edge().url, confirmed: true, version: before.version + 1, error: '' },
    ]);
    for (const key of [next, previous, seed]) {
      expect(await verifyAt(edge().url, key.token)).toMatchObject({
        status: 200,
        body: { valid: true, kid: key.kid },
      });
    }
  });
});

describe('Valkey gone: workerd edge and a pulling Node.js edge', () => {
  const keysetKey = newKeysetKey();
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  let workerd: EdgeProcess | undefined;
  let nodeEdge: EdgeProcess | undefined;

  beforeAll(async () => {
    valkey = await startValkey();
    const workerdPort = await freePort();
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [`http://127.0.0.1:${workerdPort}`],
    });
    workerd = await startWorkerdEdge({ keysetKey, keysetUrl: harness.keysetUrl, port: workerdPort });
    nodeEdge = await startNodeEdge({ keysetKey, keysetUrl: harness.keysetUrl, keysetTtl: '1s' });
  }, 120_000);

  afterAll(async () => {
    await stopAll([nodeEdge, workerd, harness, valkey]);
  }, 60_000);

  it('with Valkey gone, edges keep verifying and RotateSecret answers UNAVAILABLE', async () => {
    const cp = harness as Harness;
    const edge = workerd as EdgeProcess;
    const pulling = nodeEdge as EdgeProcess;
    const first = await keyOf(newSecret(), 'user-of-first');
    const second = await keyOf(newSecret(), 'user-of-second');
    const { version } = await cp.rotate(first.secret);
    expect(await cp.rotate(second.secret)).toMatchObject({ success: true, version: version + 1 });
    await edgeReaches(pulling, version + 1, 20_000);
    await (valkey as ValkeyServer).kill();

    expect(await verifyAt(edge.url, second.token)).toMatchObject({ status: 200 });
    expect(await verifyAt(pulling.url, first.token)).toMatchObject({ status: 200 });

    const failure = await cp.rotate(newSecret()).then(
      () => undefined,
      (error: ServiceError) => error,
    );
    expect(failure?.code).toBe(status.UNAVAILABLE);

    // Still verifying afterwards, with the keyset they hold.
    expect(await verifyAt(edge.url, second.token)).toMatchObject({ status: 200 });
    expect(await verifyAt(edge.url, first.token)).toMatchObject({ status: 200 });
    const health = await healthOf(edge.url);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', keyset_version: version + 1 } });
    expect(await verifyAt(pulling.url, second.token)).toMatchObject({ status: 200 });
  });
});

/** One /verify exchange and when it happened by the test's clock (the edge runs on the same machine's). */
interface Exchange {
  sentAt: number;
  answeredAt: number;
  answer: EdgeAnswer;
}

describe('grace period end (GRACE_PERIOD=5s): workerd edge', () => {
  const GRACE_MS = 5_000;
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
      gracePeriod: `${GRACE_MS / 1000}s`,
    });
    workerd = await startWorkerdEdge({ keysetKey, keysetUrl: harness.keysetUrl, port: workerdPort });
    await edgeReaches(workerd, 1, 30_000);
  }, 120_000);

  afterAll(async () => {
    await stopAll([workerd, harness, valkey]);
  }, 60_000);

  it('the previous key verifies until its expires_at, then fails with key_unknown (with kid) or signature_invalid (without)', async () => {
    const cp = harness as Harness;
    const edge = workerd as EdgeProcess;
    const old = await keyOf(oldSecret, 'e2e');
    const oldWithoutKid = signToken(oldSecret, undefined);
    const newer = await keyOf(newerSecret, 'e2e');

    const response = await cp.rotate(newerSecret);
    expect(response).toMatchObject({ success: true, version: 2, kid: newer.kid });
    expect(response.edges).toEqual([{ url: edge.url, confirmed: true, version: 2, error: '' }]);
    const keyset = await cp.getKeyset();
    const previous = keyset.keys.find((key) => key.kid === old.kid);
    const active = keyset.keys.find((key) => key.kid === newer.kid);
    expect(previous?.status).toBe('previous');
    expect(active?.status).toBe('active');
    const expiresAt = Date.parse(previous?.expires_at ?? '');
    // Superseded when the new key was created, plus the grace period.
    expect(expiresAt - Date.parse(active?.created_at ?? '')).toBe(GRACE_MS);

    // Ask about both old tokens, over and over, until the edge refuses both; then read the order of events.
    const withKid: Exchange[] = [];
    const withoutKid: Exchange[] = [];
    const refused = (log: Exchange[]) => log.at(-1)?.answer.status === 401;
    const ask = async (log: Exchange[], token: string) => {
      const sentAt = Date.now();
      const answer = await verifyAt(edge.url, token);
      log.push({ sentAt, answeredAt: Date.now(), answer });
    };
    await waitFor(
      async () => {
        await ask(withKid, old.token);
        await ask(withoutKid, oldWithoutKid);
        return refused(withKid) && refused(withoutKid) ? true : undefined;
      },
      {
        what: 'the edge to refuse both tokens of the previous key',
        timeoutMs: GRACE_MS + 30_000,
        intervalMs: 100,
      },
    );

    for (const [log, error] of [
      [withKid, 'key_unknown'],
      [withoutKid, 'signature_invalid'],
    ] as const) {
      const firstRefusal = log.findIndex((exchange) => exchange.answer.status !== 200);
      const accepted = log.slice(0, firstRefusal);
      const refusals = log.slice(firstRefusal);
      // Accepted first (the key did verify in grace), then refused for good: never accepted again.
      expect(accepted.length, 'answers before the first refusal').toBeGreaterThan(0);
      for (const { answer } of accepted) {
        expect(answer).toMatchObject({ status: 200, body: { valid: true, kid: old.kid } });
      }
      for (const { answer } of refusals)
        expect(answer).toMatchObject({ status: 401, body: { valid: false, error } });
      // Causality, not durations: an acceptance was asked before expires_at, a refusal answered after it.
      expect(Math.max(...accepted.map((exchange) => exchange.sentAt))).toBeLessThan(expiresAt);
      expect(Math.min(...refusals.map((exchange) => exchange.answeredAt))).toBeGreaterThanOrEqual(expiresAt);
    }
    expect(await verifyAt(edge.url, newer.token)).toMatchObject({
      status: 200,
      body: { valid: true, kid: newer.kid },
    });
  });
});
