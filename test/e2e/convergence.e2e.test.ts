/**
 * End to end: three edges at once (workerd via wrangler dev, the Node.js entry, the Bun entry), all in
 * EDGE_URLS, through 20 rotations. After each RotateSecret answers, every edge is polled concurrently until it
 * verifies a token with the new kid; the worst edge's time per rotation is recorded and summarised in
 * test/e2e/.last-propagation.json. Timing is measured, never asserted.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import { type EdgeAnswer, edgeVersion, verifyAt } from '../support/edge-http-client.ts';
import {
  type EdgeProcess,
  type EdgeRuntime,
  startBunEdge,
  startNodeEdge,
  startWorkerdEdge,
} from '../support/edge-processes.ts';
import { freePort } from '../support/free-port.ts';
import { newKeysetKey, newSecret, signToken } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitFor } from '../support/wait-for.ts';

const ROTATIONS = 20;
const SUMMARY_FILE = fileURLToPath(new URL('./.last-propagation.json', import.meta.url));
/** Per edge and rotation: the polling gives up after this many requests or this long, whichever comes first. */
const MAX_POLLS = 2_000;
const MAX_POLL_MS = 15_000;

interface Convergence {
  /** ms from RotateSecret's answer to the first 200 for the new kid; NaN when it never came. */
  ms: number;
  polls: number;
  last?: EdgeAnswer;
}

/** Polls POST /verify in a tight bounded loop until the token verifies. */
async function timeToVerify(edgeUrl: string, token: string, answeredAt: number): Promise<Convergence> {
  const deadline = answeredAt + MAX_POLL_MS;
  let last: EdgeAnswer | undefined;
  for (let polls = 1; polls <= MAX_POLLS && performance.now() < deadline; polls++) {
    try {
      last = await verifyAt(edgeUrl, token);
      if (last.status === 200) return { ms: performance.now() - answeredAt, polls };
    } catch (error) {
      last = { status: 0, body: { error: (error as Error).message } };
    }
  }
  return { ms: Number.NaN, polls: MAX_POLLS, last };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

describe('convergence: 20 rotations pushed to workerd, Node.js and Bun edges', () => {
  const keysetKey = newKeysetKey();
  const firstSecret = newSecret();
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  const edges: EdgeProcess[] = [];

  beforeAll(async () => {
    valkey = await startValkey();
    const client = new Valkey(valkey.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.set('jwt_secrets:active', firstSecret);
    } finally {
      client.disconnect();
    }
    const ports = { workerd: await freePort(), node: await freePort(), bun: await freePort() };
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: Object.values(ports).map((port) => `http://127.0.0.1:${port}`),
    });
    const options = { keysetKey, keysetUrl: harness.keysetUrl };
    const started = await Promise.allSettled([
      startWorkerdEdge({ ...options, port: ports.workerd }),
      startNodeEdge({ ...options, port: ports.node }),
      startBunEdge({ ...options, port: ports.bun }),
    ]);
    for (const result of started) if (result.status === 'fulfilled') edges.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const edge of edges) {
      await waitFor(async () => ((await edgeVersion(edge.url)) >= 1 ? true : undefined), {
        what: `the ${edge.runtime} edge to hold keyset version 1`,
        timeoutMs: 30_000,
      });
    }
  }, 150_000);

  afterAll(async () => {
    for (const part of [...edges, harness, valkey]) {
      try {
        await part?.stop();
      } catch {
        // Keep stopping the others.
      }
    }
  }, 60_000);

  it('every edge is confirmed in each answer and verifies the new kid; propagation is recorded', async () => {
    const cp = harness as Harness;
    const byUrl = new Map(edges.map((edge) => [edge.url, edge.runtime]));
    const worstPerRotation: number[] = [];
    const perEdge: Record<EdgeRuntime, number[]> = { workerd: [], node: [], bun: [] };
    const rpcMs: number[] = [];
    let firstPollSuccesses = 0;

    for (let rotation = 1; rotation <= ROTATIONS; rotation++) {
      const secret = newSecret();
      const kid = await computeKid(secret);
      const token = signToken(secret, kid, { sub: `rotation-${rotation}` });
      const version = rotation + 1;

      const calledAt = performance.now();
      const response = await cp.rotate(secret);
      const answeredAt = performance.now();
      const results = await Promise.all(edges.map((edge) => timeToVerify(edge.url, token, answeredAt)));
      rpcMs.push(answeredAt - calledAt);

      expect(response).toMatchObject({ success: true, version, kid });
      expect(
        [...response.edges].sort((a, b) => a.url.localeCompare(b.url)),
        `rotation ${rotation}: every edge confirms in the answer`,
      ).toEqual([...byUrl.keys()].sort().map((url) => ({ url, confirmed: true, version, error: '' })));
      for (const [index, result] of results.entries()) {
        const edge = edges[index] as EdgeProcess;
        expect(
          result.ms,
          `rotation ${rotation}: the ${edge.runtime} edge never verified the new kid (last answer ${JSON.stringify(result.last)})`,
        ).not.toBeNaN();
        perEdge[edge.runtime].push(result.ms);
        if (result.polls === 1) firstPollSuccesses++;
      }
      worstPerRotation.push(Math.max(...results.map((result) => result.ms)));
    }

    const summary = {
      measured_at: new Date().toISOString(),
      what: 'ms from RotateSecret answering to every edge verifying a token with the new kid (worst edge per rotation)',
      rotations: ROTATIONS,
      edges: edges.map((edge) => edge.runtime),
      median_ms: round(median(worstPerRotation)),
      worst_ms: round(Math.max(...worstPerRotation)),
      per_rotation_worst_ms: worstPerRotation.map(round),
      per_edge_median_ms: Object.fromEntries(
        Object.entries(perEdge).map(([runtime, values]) => [runtime, round(median(values))]),
      ),
      rotate_secret_rpc_ms: { median: round(median(rpcMs)), worst: round(Math.max(...rpcMs)) },
      verified_on_first_request: `${firstPollSuccesses}/${ROTATIONS * edges.length}`,
    };
    writeFileSync(SUMMARY_FILE, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(
      `propagation over ${ROTATIONS} rotations to ${summary.edges.join('+')}: median ${summary.median_ms} ms, worst ${summary.worst_ms} ms after RotateSecret answered (RotateSecret itself: median ${summary.rotate_secret_rpc_ms.median} ms, worst ${summary.rotate_secret_rpc_ms.worst} ms; ${summary.verified_on_first_request} verified on the first request)`,
    );
  }, 180_000);
});
