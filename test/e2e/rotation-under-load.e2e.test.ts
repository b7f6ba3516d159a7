/**
 * Under load: a real valkey-server, the real control plane over real gRPC on loopback, a Node.js edge and a
 * workerd edge (wrangler dev), both in EDGE_URLS, under sustained POST and GET /verify load while the secret
 * rotates every 1-2 s. Every token sent was valid when sent (the start key's, or a newer key's once RotateSecret
 * answered), so every answer must be 200 with the signing key's kid. Then an emergency rotation, and the old
 * tokens must be refused by every edge as soon as RotateSecret has answered. The length of the load follows
 * the number of rotations, not the clock; nothing here asserts on time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import { edgeVersion } from '../support/edge-http-client.ts';
import { type EdgeProcess, ROOT, startNodeEdge, startWorkerdEdge } from '../support/edge-processes.ts';
import { freePort } from '../support/free-port.ts';
import {
  type EdgeUnderLoad,
  type PoolToken,
  rotateAndFeed,
  signGeneration,
  startVerifyLoad,
  TokenPool,
  totalOf,
  unexpectedAnswers,
  type VerifyLoad,
} from '../support/rotation-load.ts';
import { newKeysetKey, newSecret } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { sleep, waitFor } from '../support/wait-for.ts';

const ROTATIONS = 12;
const START_TOKENS = 150;
const TOKENS_PER_KEY = 10;
const CONNECTIONS_PER_EDGE = 6;
/** Safety cap on the load; the rotations end it long before on any machine that runs the suite at all. */
const MAX_LOAD_SECONDS = 120;
/** After the last rotation, load goes on until every key's tokens were verified at every edge, or this long. */
const TAIL_MS = 15_000;

/** A token as an operator makes one: `keyward sign` (the CLI) with the secret in a file. */
async function cliSignedToken(secret: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-load-'));
  try {
    const file = join(dir, 'secret');
    writeFileSync(file, secret, { mode: 0o600 });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'control-plane/src/cli.ts'), 'sign', '--secret-file', file, '--sub', 'cli-user'],
      { cwd: ROOT, timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } },
    );
    return stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('rotation under load: workerd and Node.js edges, rotations every 1-2 s over gRPC', () => {
  const keysetKey = newKeysetKey();
  const startSecret = newSecret();
  const secrets = [startSecret];
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  const edges: EdgeProcess[] = [];
  const loads: VerifyLoad[] = [];

  beforeAll(async () => {
    valkey = await startValkey();
    const ports = { workerd: await freePort(), node: await freePort() };
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: Object.values(ports).map((port) => `http://127.0.0.1:${port}`),
      // Far longer than the test: every key's tokens stay valid until the emergency rotation.
      gracePeriod: '1h',
    });
    const options = { keysetKey, keysetUrl: harness.keysetUrl };
    const started = await Promise.allSettled([
      startWorkerdEdge({ ...options, port: ports.workerd }),
      startNodeEdge({ ...options, port: ports.node }),
    ]);
    for (const result of started) if (result.status === 'fulfilled') edges.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    // The key active when the load starts is one whose secret the test knows.
    const { version } = await harness.rotate(startSecret);
    for (const edge of edges) {
      await waitFor(async () => ((await edgeVersion(edge.url)) >= Number(version) ? true : undefined), {
        what: `the ${edge.runtime} edge to hold keyset version ${version}`,
        timeoutMs: 30_000,
      });
    }
  }, 150_000);

  afterAll(async () => {
    for (const load of loads) load.stop();
    await Promise.allSettled(loads.map((load) => load.done));
    for (const part of [...edges, harness, valkey]) {
      try {
        await part?.stop();
      } catch {
        // Keep stopping the others.
      }
    }
  }, 60_000);

  it('no request fails through 12 rotations; an emergency rotation then refuses the old tokens everywhere', async () => {
    const cp = harness as Harness;
    const startTokens: PoolToken[] = [
      ...(await signGeneration(startSecret, 0, START_TOKENS)),
      {
        token: await cliSignedToken(startSecret),
        kid: await computeKid(startSecret),
        carriesKid: true,
        generation: 0,
      },
    ];
    const underLoad: EdgeUnderLoad[] = edges.map((edge) => {
      const pool = new TokenPool();
      pool.add(startTokens);
      return { name: edge.runtime, url: edge.url, pool };
    });
    for (const edge of underLoad) {
      loads.push(startVerifyLoad(edge, { connections: CONNECTIONS_PER_EDGE, maxSeconds: MAX_LOAD_SECONDS }));
    }
    let loadEnded = false;
    void Promise.allSettled(loads.map((load) => load.done)).then(() => {
      loadEnded = true;
    });

    const unconfirmedPushes: string[] = [];
    let rotations = 0;
    let lastVersion = 0;
    for (let generation = 1; generation <= ROTATIONS && !loadEnded; generation++) {
      await sleep(1_000 + Math.random() * 1_000);
      const secret = newSecret();
      secrets.push(secret);
      const record = await rotateAndFeed({
        rotate: (next) => cp.rotate(next),
        secret,
        generation,
        edges: underLoad,
        tokensPerKey: TOKENS_PER_KEY,
        catchUpMs: 20_000,
      });
      rotations++;
      lastVersion = record.version;
      unconfirmedPushes.push(...record.unconfirmed.map((edge) => `${edge} v${record.version}`));
    }
    const everyKeyServedEverywhere = () =>
      loads.every((load) =>
        Array.from({ length: rotations + 1 }, (_, generation) => generation).every(
          (generation) => (load.tally.verifiedByGeneration.get(generation) ?? 0) > 0,
        ),
      );
    await sleep(1_000);
    await waitFor(async () => (everyKeyServedEverywhere() || loadEnded ? true : undefined), {
      what: 'every key to be served at every edge',
      timeoutMs: TAIL_MS,
    }).catch(() => undefined);
    for (const load of loads) load.stop();
    const results = await Promise.all(loads.map((load) => load.done));

    expect(rotations, 'the load outlasted every rotation').toBe(ROTATIONS);
    for (const [index, load] of loads.entries()) {
      const { tally } = load;
      const context = `${load.edge.name} edge: first wrong answers ${JSON.stringify(tally.firstWrong)}`;
      expect(tally.wrong, context).toEqual({});
      expect(tally.transport, `${load.edge.name} edge: requests without an answer`).toEqual({});
      expect(results[index]?.errors, `${load.edge.name} edge: autocannon errors`).toBe(0);
      expect(tally.verified).toBe(tally.answered);
      expect(tally.verifiedByMethod.GET).toBeGreaterThan(0);
      expect(tally.verifiedByMethod.POST).toBeGreaterThan(0);
      // Only requests still in flight when the load stopped may go unanswered: one per connection at most.
      expect(tally.sent - tally.answered).toBeLessThanOrEqual(CONNECTIONS_PER_EDGE);
      expect(
        everyKeyServedEverywhere(),
        `${load.edge.name} edge: verified per key ${JSON.stringify([...tally.verifiedByGeneration])}`,
      ).toBe(true);
    }

    // Emergency: every earlier key expires at once, and RotateSecret answers only once the edges hold that.
    const emergencySecret = newSecret();
    secrets.push(emergencySecret);
    const emergency = await cp.rotate(emergencySecret, { emergency: true });
    expect(emergency.success).toBe(true);
    expect(Number(emergency.version)).toBeGreaterThan(lastVersion);
    expect(emergency.edges.map((edge) => edge.confirmed)).toEqual(edges.map(() => true));
    const everyOldToken = underLoad.flatMap((edge) => edge.pool.all());
    const oldTokens = [...new Map(everyOldToken.map((token) => [token.token, token])).values()];
    const refused = await unexpectedAnswers(underLoad, oldTokens, 'refused');
    expect(refused.unexpected.slice(0, 10)).toEqual([]);
    const newTokens = await signGeneration(emergencySecret, ROTATIONS + 1, 4, 2);
    const accepted = await unexpectedAnswers(underLoad, newTokens, 'verified');
    expect(accepted.unexpected).toEqual([]);

    const logs = cp.logLines.join('');
    expect(logs).toContain('Rotating JWT secret');
    for (const secret of secrets) expect(logs.includes(secret)).toBe(false);
    expect(logs.includes(cp.adminToken)).toBe(false);

    const total = totalOf(loads.map((load) => load.tally));
    const perEdge = loads
      .map(
        (load) =>
          `${load.edge.name} ${load.tally.verified} (${load.tally.verifiedByMethod.POST} POST, ${load.tally.verifiedByMethod.GET} GET)`,
      )
      .join(', ');
    console.log(
      `rotation under load: ${total.verified} requests verified during ${rotations} rotations (${perEdge}), ` +
        `${total.wrong} wrong answers, ${total.transport} lost, ${unconfirmedPushes.length} pushes unconfirmed in the answer` +
        `${unconfirmedPushes.length ? ` (${unconfirmedPushes.join(', ')})` : ''}; ` +
        `emergency rotation: ${oldTokens.length} old tokens refused at ${underLoad.length} edges (${refused.checked} requests)`,
    );
  }, 240_000);
});
