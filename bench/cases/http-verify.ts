/**
 * /verify over HTTP with autocannon (in-process, 50 connections, loopback): Keyward's Node, Bun and Deno entries
 * against the fastest bare server on the same runtime, every configuration once per round, interleaved. HS256
 * tokens throughout; on Node also EdDSA tokens, with the verified-token cache off and on. The servers run on
 * their own cores and the load generator on another where taskset exists; each round also reads the server's CPU
 * time and peak RSS from /proc. Each entry's floor is the bare server's CPU per request plus one in-process
 * verify by the lower bound on that runtime, timed here too.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { sealKeyset } from '../../shared/keyset-envelope.ts';
import { type CpuSplit, cpuSplit, pinProcess } from '../../test/support/cpu-affinity.ts';
import { EDGE_ENTRY_COMMANDS } from '../../test/support/edge-entry-commands.ts';
import { putKeyset } from '../../test/support/edge-http-client.ts';
import {
  type EdgeOptions,
  ROOT,
  startBunEdge,
  startDenoEdge,
  startNodeEdge,
} from '../../test/support/edge-processes.ts';
import { sealingKeys } from '../../test/support/keysets.ts';
import { type ManagedProcess, startProcess } from '../../test/support/managed-process.ts';
import { onCpuMs, rssBytes, sampleRss } from '../../test/support/process-stats.ts';
import { type Summary, summarize } from '../../test/support/stats.ts';
import { BUN } from '../../test/support/tool-versions.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';
import type { BenchFixture } from '../support/fixture.ts';
import type { CaseTiming, TimingOptions } from '../support/interleaved-timing.ts';
import { rawSpecsOf } from '../support/raw-node-verify.ts';
import { RUNTIMES, runnerAlgs, timeOnRuntime } from './runtime-verify.ts';

export interface Server {
  name: string;
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

interface HttpConfig {
  /** Key in results.json, e.g. `node/keyward/GET`. */
  id: string;
  server: Server;
  method: 'GET' | 'POST';
  /** The one token this configuration sends. */
  token: string;
}

export interface HttpOptions {
  connections: number;
  warmupSeconds: number;
  roundSeconds: number;
  rounds: number;
  /** The in-process lower bound of one verify on each runtime, timed before the loads. */
  rawVerifyTiming: TimingOptions;
}

export interface HttpResult {
  id: string;
  server: string;
  method: 'GET' | 'POST';
  reqPerSec: Summary;
  p50Ms: Summary;
  p99Ms: Summary;
  /**
   * CPU time the server process used per request answered, in µs: what the server costs, whatever the load
   * generator could send (on 2 cores autocannon is often the bottleneck, and req/s then measures it).
   */
  serverCpuUsPerRequest: Summary;
  requests: number;
  non2xx: number;
  errors: number;
  perRound: { reqPerSec: number; p50Ms: number; p99Ms: number; serverCpuUsPerRequest: number }[];
}

export interface ServerRss {
  idle: number;
  peakUnderLoad: number;
}

/**
 * The lower bound of one verify on a runtime: the fastest of its node:crypto and WebCrypto forms and, for HS256,
 * the HMAC in JavaScript (@noble/hashes).
 */
export interface RawVerify {
  kind: 'node:crypto' | 'webcrypto' | 'js-hmac';
  /** Median µs per verify. */
  us: number;
  cases: CaseTiming[];
}

/**
 * A Keyward configuration's floor: the server CPU per request of the fastest bare server on its runtime that
 * answers the same JSON without verifying, plus one in-process verify by the lower bound on that runtime.
 */
export interface Floor {
  /** The bare configuration, e.g. `node/bare/GET`. */
  bare: string;
  bareCpuUs: number;
  /** `<runtime>/<alg>`, a key of `HttpVerify.rawVerify`. */
  rawVerify: string;
  rawVerifyUs: number;
  rawVerifyKind: RawVerify['kind'];
  floorUs: number;
}

export interface HttpVerify {
  options: HttpOptions;
  /** By `<runtime>/<alg>`: hs256 on each runtime, eddsa on node. */
  rawVerify: Record<string, RawVerify>;
  /** By Keyward configuration, e.g. `deno/keyward/POST`. */
  floors: Record<string, Floor>;
  /** Cores of the servers and of the load generator; undefined when they were not pinned apart. */
  pinning: CpuSplit | undefined;
  results: HttpResult[];
  /**
   * Per-round ratios of req/s, p99 and server CPU per request, keyed `subject / baseline field`; and of server CPU
   * per request over the floor, keyed `subject / floor server CPU per request`.
   */
  ratios: Record<string, Summary>;
  /** By server name. */
  rss: Record<string, ServerRss>;
}

const PORT_LINE = /listening on (?:http:\/\/[^\s]*:|port )(\d+)/;

async function startBareServer(
  name: string,
  command: string,
  script: string,
  env: Record<string, string>,
  flags: string[] = [],
) {
  const child = startProcess(name, command, [...flags, join(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', ...env },
  });
  const port = (await waitForOutput(child, PORT_LINE))[1];
  return serverOf(name, `http://127.0.0.1:${port}`, child);
}

function serverOf(name: string, url: string, child: ManagedProcess): Server {
  return { name, url, pid: child.child.pid, stop: () => child.stop() };
}

/**
 * Keyward's Node, Bun and Deno entries holding the fixture's keyset, and the bare baselines. The load sends one
 * token over and over, so the edges' verified-token cache is off: every request pays a full verify, as the
 * baselines do. Per runtime, the fastest bare server that answers the same JSON without verifying
 * (bench/servers/bare-*.ts), and the same server with the raw verify in it (the HMAC computed as the runtime's
 * lower bound `raw` computes it). On Node, for EdDSA, also the bare server with the raw EdDSA verify and two more
 * entries holding the public keyset (a bare signed JWS, no secret in it): one with the cache off, one with the
 * cache at its default size, where every request after the first is a hit.
 */
async function startServers(fixture: BenchFixture, servers: Server[], raw: Record<string, RawVerify>) {
  const keysetKey = new Uint8Array(32);
  crypto.getRandomValues(keysetKey);
  const edgeOptions: EdgeOptions = {
    keysetKey: Buffer.from(keysetKey).toString('base64url'),
    env: { VERIFY_CACHE_SIZE: '0' },
  };
  const started = async (server: Promise<Server>) => {
    servers.push(await server);
    return servers.at(-1) as Server;
  };
  const edge = async (
    name: string,
    start: (options: EdgeOptions) => Promise<{ url: string; process: ManagedProcess }>,
    options = edgeOptions,
  ) => {
    const edgeProcess = await start(options);
    return serverOf(name, edgeProcess.url, edgeProcess.process);
  };
  const answer = { BENCH_ANSWER: JSON.stringify({ kid: fixture.active.kid, claims: fixture.claims }) };
  const bare = (runtime: string, command: string, script: string, env: Record<string, string>) =>
    startBareServer(`${runtime} bare`, command, `bench/servers/${script}`, env);
  const [deno, ...denoFlags] = EDGE_ENTRY_COMMANDS.deno as [string, ...string[]];
  const nodeEdge = await started(edge('node keyward', startNodeEdge));
  const nodeBare = await started(bare('node', process.execPath, 'bare-node.ts', answer));
  const bareVerify = await started(
    startBareServer('node bare + raw verify', process.execPath, 'bench/servers/bare-node.ts', {
      BENCH_KEYS: JSON.stringify([...fixture.secrets].reverse()),
    }),
  );
  const nodeEdgeEddsa = await started(edge('node keyward eddsa', startNodeEdge));
  const nodeEdgeEddsaCached = await started(
    edge('node keyward eddsa cached', startNodeEdge, { ...edgeOptions, env: {} }),
  );
  const bareVerifyEddsa = await started(
    startBareServer('node bare + raw verify eddsa', process.execPath, 'bench/servers/bare-node.ts', {
      BENCH_KEYS: JSON.stringify(rawSpecsOf(fixture.asymmetric.keyset.keys)),
    }),
  );
  // The hand-written server verifies as the lower bound its floor adds does.
  const hs256Keys = (runtime: 'bun' | 'deno') => ({
    BENCH_KEYS: JSON.stringify([...fixture.secrets].reverse()),
    BENCH_HMAC: raw[`${runtime}/hs256`]?.kind === 'js-hmac' ? 'js' : 'node',
  });
  const bunEdge = await started(edge('bun keyward', startBunEdge));
  const bunBare = await started(bare('bun', BUN, 'bare-bun.ts', answer));
  const bunBareVerify = await started(
    startBareServer('bun bare + raw verify', BUN, 'bench/servers/bare-bun.ts', hs256Keys('bun')),
  );
  const denoEdge = await started(edge('deno keyward', startDenoEdge));
  const denoBare = await started(
    startBareServer('deno bare', deno, 'bench/servers/bare-deno.ts', answer, denoFlags.slice(0, -1)),
  );
  const denoBareVerify = await started(
    startBareServer(
      'deno bare + raw verify',
      deno,
      'bench/servers/bare-deno.ts',
      hs256Keys('deno'),
      denoFlags.slice(0, -1),
    ),
  );
  const keys = await sealingKeys(keysetKey);
  const hs256 = await sealKeyset(fixture.keyset, keys);
  const asymmetric = await sealKeyset(fixture.asymmetric.keyset, keys);
  if (asymmetric.split('.').length !== 3) throw new Error('a public keyset must seal to the bare signed JWS');
  for (const [keyward, envelope] of [
    [nodeEdge, hs256],
    [bunEdge, hs256],
    [denoEdge, hs256],
    [nodeEdgeEddsa, asymmetric],
    [nodeEdgeEddsaCached, asymmetric],
  ] as const) {
    const answer = await putKeyset(keyward.url, envelope);
    if (answer.status !== 200) throw new Error(`PUT ${keyward.url}/keyset: HTTP ${answer.status}`);
  }
  return {
    nodeEdge,
    nodeBare,
    bareVerify,
    bunEdge,
    bunBare,
    bunBareVerify,
    denoEdge,
    denoBare,
    denoBareVerify,
    nodeEdgeEddsa,
    nodeEdgeEddsaCached,
    bareVerifyEddsa,
  };
}

const RAW_KINDS: Record<string, RawVerify['kind']> = {
  'raw-node': 'node:crypto',
  'raw-web': 'webcrypto',
  'raw-js': 'js-hmac',
};

/**
 * The in-process lower bound of one verify on each runtime, timed inside it on the servers' core before they
 * start: the fastest hand-written verify there, with node:crypto, WebCrypto or (HS256) an HMAC in JavaScript
 * (runtime-verify-runner.ts). Timed in process CPU time, as the servers are: a wall-clock figure would grow with
 * whatever else the machine runs (descheduled time) while the servers' CPU per request does not, and the floor
 * would rise with the load.
 */
async function rawVerifyOn(fixture: BenchFixture, timing: TimingOptions): Promise<Record<string, RawVerify>> {
  const raw: Record<string, RawVerify> = {};
  for (const runtime of RUNTIMES) {
    const algs = runnerAlgs(fixture, runtime === 'node' ? ['HS256', 'EdDSA'] : ['HS256']);
    const cases = await timeOnRuntime(runtime, {
      timing: { ...timing, cpu: true },
      kinds: ['raw-node', 'raw-web', 'raw-js'],
      algs,
    });
    for (const { alg } of algs) {
      const x = alg.toLowerCase();
      const [fastest] = cases
        .filter((c) => c.name.endsWith(`/${x}`))
        .sort((a, b) => a.nsPerOp.median - b.nsPerOp.median) as [CaseTiming];
      raw[`${runtime}/${x}`] = {
        kind: RAW_KINDS[fastest.name.slice(0, fastest.name.indexOf('/'))] ?? 'webcrypto',
        us: fastest.nsPerOp.median / 1000,
        cases: cases.filter((c) => c.name.endsWith(`/${x}`)),
      };
    }
  }
  return raw;
}

/** Loads every server with GET and POST /verify in interleaved rounds; see the file's comment. */
export async function measureHttpVerify(fixture: BenchFixture, options: HttpOptions): Promise<HttpVerify> {
  // Children inherit this process's affinity when spawned (Bun's launcher included), then this process moves.
  const split = cpuSplit();
  const pinnedApart = split !== undefined && pinProcess(process.pid, split.servers);
  const servers: Server[] = [];
  try {
    const rawVerify = await rawVerifyOn(fixture, options.rawVerifyTiming);
    const s = await startServers(fixture, servers, rawVerify);
    if (pinnedApart && split) pinProcess(process.pid, split.loader);
    await sleep(1_000);
    const idle = new Map(servers.map((server) => [server, rssBytes(server.pid)]));
    const configs: HttpConfig[] = [];
    const add = (id: string, server: Server, token = fixture.tokens.withKid) => {
      configs.push(
        { id: `${id}/GET`, server, method: 'GET', token },
        { id: `${id}/POST`, server, method: 'POST', token },
      );
    };
    const eddsa = fixture.asymmetric.tokens.EdDSA;
    add('node/keyward', s.nodeEdge);
    add('node/bare', s.nodeBare);
    add('node/bare-http+raw-verify', s.bareVerify);
    add('bun/keyward', s.bunEdge);
    add('bun/bare', s.bunBare);
    add('bun/bare-http+raw-verify', s.bunBareVerify);
    add('deno/keyward', s.denoEdge);
    add('deno/bare', s.denoBare);
    add('deno/bare-http+raw-verify', s.denoBareVerify);
    add('node/keyward-eddsa', s.nodeEdgeEddsa, eddsa);
    add('node/keyward-eddsa-cached', s.nodeEdgeEddsaCached, eddsa);
    add('node/bare-http+raw-verify-eddsa', s.bareVerifyEddsa, eddsa);
    const { results, peakRssBytes } = await loadAll(configs, options);
    const floors = floorsOf(results, rawVerify);
    return {
      options,
      pinning: pinnedApart ? split : undefined,
      results,
      rawVerify,
      floors,
      ratios: { ...ratiosOf(results), ...floorRatiosOf(results, floors) },
      rss: Object.fromEntries(
        servers.map((server) => [
          server.name,
          { idle: idle.get(server) ?? Number.NaN, peakUnderLoad: peakRssBytes.get(server) ?? Number.NaN },
        ]),
      ),
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    // The later cases spread over every core again.
    if (pinnedApart) pinProcess(process.pid, `0-${cpus().length - 1}`);
  }
}

/**
 * Keyward's entry on each runtime, and the bare server and lower bound its floor adds up; and, as a control, the
 * bare server with the raw verify in it against the same floor: how far the sum is from what a hand-written
 * server doing both spends.
 */
const FLOORED: { subject: string; bare: string; raw: string }[] = [
  { subject: 'node/keyward', bare: 'node/bare', raw: 'node/hs256' },
  { subject: 'bun/keyward', bare: 'bun/bare', raw: 'bun/hs256' },
  { subject: 'deno/keyward', bare: 'deno/bare', raw: 'deno/hs256' },
  { subject: 'node/keyward-eddsa', bare: 'node/bare', raw: 'node/eddsa' },
  { subject: 'node/bare-http+raw-verify', bare: 'node/bare', raw: 'node/hs256' },
  { subject: 'bun/bare-http+raw-verify', bare: 'bun/bare', raw: 'bun/hs256' },
  { subject: 'deno/bare-http+raw-verify', bare: 'deno/bare', raw: 'deno/hs256' },
  { subject: 'node/bare-http+raw-verify-eddsa', bare: 'node/bare', raw: 'node/eddsa' },
];

function floorsOf(results: readonly HttpResult[], raw: Record<string, RawVerify>): Record<string, Floor> {
  const byId = (id: string) => results.find((r) => r.id === id) as HttpResult;
  const floors: Record<string, Floor> = {};
  for (const { subject, bare, raw: rawId } of FLOORED) {
    for (const method of ['GET', 'POST']) {
      const bareCpu = byId(`${bare}/${method}`).serverCpuUsPerRequest;
      const rawVerify = raw[rawId] as RawVerify;
      floors[`${subject}/${method}`] = {
        bare: `${bare}/${method}`,
        bareCpuUs: bareCpu.median,
        rawVerify: rawId,
        rawVerifyUs: rawVerify.us,
        rawVerifyKind: rawVerify.kind,
        floorUs: bareCpu.median + rawVerify.us,
      };
    }
  }
  return floors;
}

/**
 * Per round, Keyward's server CPU per request over its floor: that round's bare server CPU per request plus the
 * lower bound of one verify (a median: it is timed once, apart from the rounds).
 */
function floorRatiosOf(
  results: readonly HttpResult[],
  floors: Record<string, Floor>,
): Record<string, Summary> {
  const byId = (id: string) => results.find((r) => r.id === id) as HttpResult;
  return Object.fromEntries(
    Object.entries(floors).map(([id, floor]) => {
      const subject = byId(id);
      const bare = byId(floor.bare);
      const perRound = subject.perRound.map(
        (r, i) =>
          r.serverCpuUsPerRequest / ((bare.perRound[i]?.serverCpuUsPerRequest as number) + floor.rawVerifyUs),
      );
      return [`${id} / floor server CPU per request`, summarize(perRound)];
    }),
  );
}

function ratiosOf(results: readonly HttpResult[]): Record<string, Summary> {
  const byId = (id: string) => results.find((r) => r.id === id) as HttpResult;
  const ratios: Record<string, Summary> = {};
  for (const method of ['GET', 'POST']) {
    const pairs: [string, string][] = [
      [`node/keyward/${method}`, `node/bare-http+raw-verify/${method}`],
      [`node/keyward/${method}`, `node/bare/${method}`],
      [`node/bare-http+raw-verify/${method}`, `node/bare/${method}`],
      [`bun/keyward/${method}`, `bun/bare/${method}`],
      [`bun/keyward/${method}`, `bun/bare-http+raw-verify/${method}`],
      [`deno/keyward/${method}`, `deno/bare/${method}`],
      [`deno/keyward/${method}`, `deno/bare-http+raw-verify/${method}`],
      [`node/keyward-eddsa/${method}`, `node/bare-http+raw-verify-eddsa/${method}`],
      [`node/keyward-eddsa/${method}`, `node/keyward/${method}`],
      [`node/keyward-eddsa-cached/${method}`, `node/keyward-eddsa/${method}`],
    ];
    for (const [a, b] of pairs) {
      ratios[`${a} / ${b} req/s`] = httpRatio(byId(a), byId(b), 'reqPerSec');
      ratios[`${a} / ${b} p99`] = httpRatio(byId(a), byId(b), 'p99Ms');
      ratios[`${a} / ${b} server CPU per request`] = httpRatio(byId(a), byId(b), 'serverCpuUsPerRequest');
    }
  }
  return ratios;
}

async function load(config: HttpConfig, seconds: number, connections: number) {
  const token = config.token;
  const post = config.method === 'POST';
  const result = await autocannon({
    url: `${config.server.url}/verify`,
    connections,
    pipelining: 1,
    duration: seconds,
    method: config.method,
    headers: post ? { 'content-type': 'application/json' } : { authorization: `Bearer ${token}` },
    body: post ? JSON.stringify({ token }) : undefined,
  });
  return result;
}

/** Runs every config; returns results and the peak RSS of each server process under load. */
async function loadAll(
  configs: readonly HttpConfig[],
  options: HttpOptions,
): Promise<{ results: HttpResult[]; peakRssBytes: Map<Server, number> }> {
  const peakRssBytes = new Map<Server, number>();
  const track = async (server: Server, task: () => Promise<autocannon.Result>) => {
    const sampler = sampleRss(server.pid);
    try {
      return await task();
    } finally {
      const peak = sampler.stop();
      if (!(peak <= (peakRssBytes.get(server) ?? 0))) peakRssBytes.set(server, peak);
    }
  };
  for (const config of configs) {
    const warm = await track(config.server, () => load(config, options.warmupSeconds, options.connections));
    if (warm.non2xx > 0 || warm['2xx'] === 0) {
      throw new Error(`${config.id}: warm-up got ${warm.non2xx} non-2xx answers of ${warm.requests.total}`);
    }
  }
  const rounds = new Map(
    configs.map((config) => [config, [] as { run: autocannon.Result; cpuMs: number }[]]),
  );
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < configs.length; i++) {
      const config = configs[(i + round) % configs.length] as HttpConfig;
      const pid = config.server.pid;
      const cpuBefore = onCpuMs(pid);
      const run = await track(config.server, () => load(config, options.roundSeconds, options.connections));
      rounds.get(config)?.push({ run, cpuMs: onCpuMs(pid) - cpuBefore });
    }
  }
  const results = configs.map((config) => {
    const measured = rounds.get(config) as { run: autocannon.Result; cpuMs: number }[];
    const runs = measured.map((m) => m.run);
    const perRound = measured.map(({ run, cpuMs }) => ({
      reqPerSec: run['2xx'] / run.duration,
      p50Ms: run.latency.p50,
      p99Ms: run.latency.p99,
      serverCpuUsPerRequest: (cpuMs * 1000) / run.requests.total,
    }));
    return {
      id: config.id,
      server: config.server.name,
      method: config.method,
      reqPerSec: summarize(perRound.map((r) => r.reqPerSec)),
      p50Ms: summarize(perRound.map((r) => r.p50Ms)),
      p99Ms: summarize(perRound.map((r) => r.p99Ms)),
      serverCpuUsPerRequest: summarize(perRound.map((r) => r.serverCpuUsPerRequest)),
      requests: runs.reduce((sum, run) => sum + run.requests.total, 0),
      non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
      perRound,
    };
  });
  return { results, peakRssBytes };
}

/** Per-round ratio of a field, subject over baseline, from interleaved rounds. */
function httpRatio(
  subject: HttpResult,
  baseline: HttpResult,
  field: 'reqPerSec' | 'p50Ms' | 'p99Ms' | 'serverCpuUsPerRequest',
): Summary {
  return summarize(subject.perRound.map((r, i) => r[field] / (baseline.perRound[i]?.[field] as number)));
}
