/**
 * Cold start of the bundled worker: from a fresh workerd process (Miniflare, the workerd wrangler ships) to the
 * first verified answer of GET /verify, which pulls the keyset from an origin first (KEYSET_URL, a loopback
 * server here) and opens it; against a trivial Worker's first answer in the same way. Fresh processes in
 * interleaved rounds; `ready` is the time until workerd listens (script parsed and compiled), the rest the first
 * request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { sealKeyset } from '../../shared/keyset-envelope.ts';
import { KEYSET_VERIFY_KEY, sealingKeys } from '../../test/support/keysets.ts';
import { type Summary, summarize } from '../../test/support/stats.ts';
import { readWranglerConfig } from '../../test/support/wrangler-config.ts';
import type { BenchFixture } from '../support/fixture.ts';

export interface ColdStartFigures {
  /** From `new Miniflare` until workerd is ready. */
  readyMs: Summary;
  /** From `new Miniflare` until the first answer's body has arrived. */
  firstAnswerMs: Summary;
  /** From ready until the first answer's body has arrived: the first request alone (for Keyward, with the pull). */
  firstRequestMs: Summary;
}

export interface WorkerColdStart {
  rounds: number;
  keyward: ColdStartFigures;
  trivial: ColdStartFigures;
  /** Per round, Keyward's first answer over the trivial Worker's. */
  ratio: Summary;
}

const TRIVIAL_WORKER =
  'export default { fetch: () => new Response(\'{"valid":true}\', { headers: { "content-type": "application/json" } }) };';

/** The origin, counting the keyset pulls it answers: each Keyward cold start must make exactly one. */
async function origin(envelope: string): Promise<{ server: Server; pulls: () => number }> {
  let pulls = 0;
  const server = createServer((request, response) => {
    if (request.url !== '/keyset') {
      response.writeHead(404).end();
      return;
    }
    pulls++;
    response.writeHead(200, { 'content-type': 'application/jose', etag: '"1"' }).end(envelope);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, pulls: () => pulls };
}

interface Sample {
  readyMs: number;
  firstAnswerMs: number;
}

async function coldStart(
  options: Record<string, unknown>,
  request: { url: string; headers: Record<string, string> },
  expect: (status: number, body: string) => boolean,
): Promise<Sample> {
  const start = performance.now();
  const mf = new Miniflare(convertV4MiniflareOptions(options as never));
  try {
    await mf.ready;
    const readyMs = performance.now() - start;
    const response = await mf.dispatchFetch(request.url, { headers: request.headers });
    const body = await response.text();
    const firstAnswerMs = performance.now() - start;
    if (!expect(response.status, body)) throw new Error(`cold start: HTTP ${response.status} ${body}`);
    return { readyMs, firstAnswerMs };
  } finally {
    await mf.dispose();
  }
}

/** `rounds` fresh starts of each Worker, interleaved; `script` is the bundled edge worker. */
export async function measureWorkerColdStart(
  fixture: BenchFixture,
  script: string,
  options: { rounds: number; compatibilityDate: string; compatibilityFlags: string[] },
): Promise<WorkerColdStart> {
  const keysetKey = crypto.getRandomValues(new Uint8Array(32));
  const { server, pulls } = await origin(await sealKeyset(fixture.keyset, await sealingKeys(keysetKey)));
  const { port } = server.address() as AddressInfo;
  const common = {
    modules: true,
    compatibilityDate: options.compatibilityDate,
    compatibilityFlags: options.compatibilityFlags,
  };
  const keyward = {
    ...common,
    script,
    bindings: {
      // The vars of wrangler.toml's production environment, as a deployment has them; the origin is local.
      ...readWranglerConfig('production').vars,
      KEYSET_URL: `http://127.0.0.1:${port}/keyset`,
      KEYSET_KEY: Buffer.from(keysetKey).toString('base64url'),
      KEYSET_VERIFY_KEY,
    },
  };
  const request = {
    url: 'http://edge.bench/verify',
    headers: { authorization: `Bearer ${fixture.tokens.withKid}` },
  };
  const samples: Record<'keyward' | 'trivial', Sample[]> = { keyward: [], trivial: [] };
  try {
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? (['keyward', 'trivial'] as const) : (['trivial', 'keyward'] as const);
      for (const name of order) {
        const pullsBefore = pulls();
        samples[name].push(
          name === 'keyward'
            ? await coldStart(
                keyward,
                request,
                (status, body) => status === 200 && body.includes('"valid":true'),
              )
            : await coldStart({ ...common, script: TRIVIAL_WORKER }, request, (status) => status === 200),
        );
        const pulled = pulls() - pullsBefore;
        if (pulled !== (name === 'keyward' ? 1 : 0)) {
          throw new Error(
            `cold start of ${name}: ${pulled} keyset pulls from the origin, expected one for keyward`,
          );
        }
      }
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const figures = (list: Sample[]): ColdStartFigures => ({
    readyMs: summarize(list.map((s) => s.readyMs)),
    firstAnswerMs: summarize(list.map((s) => s.firstAnswerMs)),
    firstRequestMs: summarize(list.map((s) => s.firstAnswerMs - s.readyMs)),
  });
  return {
    rounds: options.rounds,
    keyward: figures(samples.keyward),
    trivial: figures(samples.trivial),
    ratio: summarize(
      samples.keyward.map((s, i) => s.firstAnswerMs / (samples.trivial[i]?.firstAnswerMs as number)),
    ),
  };
}
