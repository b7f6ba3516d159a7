/**
 * The Node, Bun and Deno edge processes on loopback: GET /metrics answers the counters after a few verifies, in
 * text `promtool check metrics` accepts without a finding, with keyward_build_info naming the runtime; ACCESS_LOG=on writes one line per request without the token, and SIGTERM stops the process with exit code 0
 * once the request in flight is answered.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KEYWARD_VERSION } from '../../../shared/build-info.ts';
import { computeKid } from '../../../shared/kid.ts';
import { type EdgeAnswer, verifyAt } from '../../../test/support/edge-http-client.ts';
import {
  type EdgeOptions,
  type EdgeProcess,
  type EdgeProcessRuntime,
  startBunEdge,
  startDenoEdge,
  startNodeEdge,
} from '../../../test/support/edge-processes.ts';
import {
  buildKeyset,
  epochSeconds,
  KEYSET_KEY,
  seal,
  secret,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { prometheusMissing, promtool } from '../../../test/support/prometheus.ts';
import { parseExposition, sampleValue } from '../../../test/support/prometheus-text.ts';
import { waitFor } from '../../../test/support/wait-for.ts';

const missingPromtool = prometheusMissing();
if (missingPromtool) console.warn(`metrics-process: promtool check metrics skipped, ${missingPromtool}`);
const OLD = secret('metrics-process-old');
const NEW = secret('metrics-process-new');

/** GET /keyset on loopback: the envelope, or held back (answered on `release`) while `holding`. */
class HoldingOrigin {
  envelope = '';
  holding = false;
  readonly #held: (() => void)[] = [];
  #onHeld: (() => void) | undefined;
  readonly server: Server = createServer((_request, response) => {
    if (this.holding) {
      this.#held.push(() => this.#answer(response));
      this.#onHeld?.();
      return;
    }
    this.#answer(response);
  });

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/keyset`;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  /** Resolves once a request is being held. */
  heldRequest(): Promise<void> {
    if (this.#held.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onHeld = resolve;
    });
  }

  release(): void {
    this.holding = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  #answer(response: ServerResponse): void {
    response.writeHead(200, { 'content-type': 'application/jose' }).end(this.envelope);
  }
}

const STARTERS: Record<
  'node' | 'bun' | 'deno',
  (options: EdgeOptions) => Promise<EdgeProcess<EdgeProcessRuntime>>
> = { node: startNodeEdge, bun: startBunEdge, deno: startDenoEdge };

async function token(secretText: string): Promise<string> {
  const now = Date.now();
  const claims = { sub: 'user-9', iat: epochSeconds(now), exp: epochSeconds(now) + 600 };
  return signWithJose(secretText, claims, { kid: await computeKid(secretText) });
}

describe.each(['node', 'bun', 'deno'] as const)('the %s edge process', (runtime) => {
  let origin: HoldingOrigin;
  let edge: EdgeProcess<EdgeProcessRuntime> | undefined;
  /** Epoch ms before the edge process started. */
  let startedAfter = 0;

  beforeAll(async () => {
    origin = new HoldingOrigin();
    origin.envelope = await seal(await buildKeyset(1, OLD));
    await origin.listen();
    startedAfter = Date.now();
    edge = await STARTERS[runtime]({
      keysetKey: KEYSET_KEY,
      keysetUrl: origin.url,
      env: { ACCESS_LOG: 'on', KEYSET_REVALIDATE: 'off' },
    });
  }, 120_000);

  afterEach(() => origin.release());

  afterAll(async () => {
    await edge?.stop();
    await new Promise((resolve) => origin?.server.close(resolve));
  });

  it('answers GET /metrics with the verify, pull and keyset counters, and logs each request without the token', async () => {
    const url = (edge as EdgeProcess<EdgeProcessRuntime>).url;
    const valid = await token(OLD);
    expect((await verifyAt(url, valid)).status).toBe(200);
    expect((await verifyAt(url, valid)).status).toBe(200);
    expect(await verifyAt(url, 'not-a-token')).toMatchObject({
      status: 401,
      body: { error: 'token_malformed' },
    });
    const forged = `${valid.slice(0, valid.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    expect(await verifyAt(url, forged)).toMatchObject({ status: 401, body: { error: 'signature_invalid' } });

    const before = Date.now();
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
    const text = await response.text();
    const samples = parseExposition(text);
    const verify = (outcome: string) => sampleValue(samples, 'keyward_edge_verify_total', { outcome });
    expect([verify('valid'), verify('token_malformed'), verify('signature_invalid')]).toEqual([2, 1, 1]);
    expect(sampleValue(samples, 'keyward_edge_keyset_version')).toBe(1);
    // Taken and confirmed by the pull at start, before the verifies above.
    for (const name of [
      'keyward_edge_keyset_taken_timestamp_seconds',
      'keyward_edge_keyset_confirmed_timestamp_seconds',
    ]) {
      expect(sampleValue(samples, name), name).toBeGreaterThanOrEqual(startedAfter / 1000);
      expect(sampleValue(samples, name), name).toBeLessThanOrEqual(before / 1000);
    }
    const [info, ...more] = samples.filter((sample) => sample.name === 'keyward_build_info');
    expect(more).toEqual([]);
    expect(info).toMatchObject({
      labels: { component: 'edge', version: KEYWARD_VERSION, runtime },
      value: 1,
    });
    expect(info?.labels.runtime_version).toMatch(/^\d+(\.\d+)*$/);
    if (missingPromtool === null) {
      expect(promtool(['check', 'metrics'], text)).toEqual({ status: 0, output: '' });
    }
    expect(sampleValue(samples, 'keyward_edge_pulls_total', { source: 'KEYSET_URL', outcome: 'taken' })).toBe(
      1,
    );

    const child = (edge as EdgeProcess<EdgeProcessRuntime>).process;
    const accessLines = () =>
      child
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{"access":true'));
    await waitFor(
      async () => (accessLines().some((line) => line.includes('"/metrics"')) ? true : undefined),
      {
        what: 'the access line of GET /metrics',
        timeoutMs: 5_000,
      },
    );
    const verifyLines = accessLines().filter((line) => line.includes('"path":"/verify"'));
    expect(verifyLines.map((line) => (JSON.parse(line) as { outcome: string }).outcome)).toEqual([
      'valid',
      'valid',
      'token_malformed',
      'signature_invalid',
    ]);
    const signature = valid.slice(valid.lastIndexOf('.') + 1);
    expect(child.output()).not.toContain(signature);
    expect(child.output()).not.toContain('not-a-token');
  });

  it('stops on SIGTERM with exit code 0, answering the request in flight first', async () => {
    const running = edge as EdgeProcess<EdgeProcessRuntime>;
    // A token of a key the edge does not hold yet: verifying it waits on a pull, which the origin holds.
    origin.envelope = await seal(await buildKeyset(2, NEW, [{ secret: OLD }]));
    origin.holding = true;
    const inFlight: Promise<EdgeAnswer> = verifyAt(running.url, await token(NEW));
    await origin.heldRequest();

    const exited = new Promise<number | null>((resolve) => running.process.child.once('exit', resolve));
    running.process.child.kill('SIGTERM');
    origin.release();
    expect(await inFlight).toMatchObject({ status: 200, body: { valid: true } });
    expect(await exited).toBe(0);
    expect(running.process.exited).toBe(true);
  }, 30_000);
});
