/**
 * The bench's targets: each names a figure of the run, the bound it must keep, and why that bound. The verdicts
 * go to the printed table and to bench/results.json; a missed target does not stop the run.
 */
import { fmt, ratioText } from '../test/support/figure-format.ts';
import type { Summary } from '../test/support/stats.ts';
import { WORKER_LIMIT_BYTES } from './cases/worker-bundle-size.ts';
import type { BenchFigures, CaseName } from './figures.ts';

export interface Target {
  target: string;
  reason: string;
  /** The case that measures the figure; a run without it (`--only`) does not judge the target. */
  case: CaseName;
  /** A per-round ratio (judged by its median) or a single value in `unit`. */
  figure: (figures: BenchFigures) => Summary | number;
  unit: 'x' | 'ms' | 'KiB' | 'rotations' | 'calls' | 'keys' | 'rounds' | 'edges';
  bound: { atMost: number } | { atLeast: number } | { below: number };
}

export interface Verdict {
  target: string;
  reason: string;
  measured: string;
  met: boolean;
}

const NODE_VERIFY = 'keyward-node / node-lower-bound';
const nodeRatio = (name: string) => (f: BenchFigures) => f.inProcess.ratios[name] as Summary;
const workerdRatio = (name: string) => (f: BenchFigures) => f.workerd.ratios[name] as Summary;
const httpRatio = (method: string, field: string) => (f: BenchFigures) =>
  f.http.ratios[`node/keyward/${method} / node/bare-http+raw-verify/${method} ${field}`] as Summary;
const at20Edges = (f: BenchFigures) => f.rotation.propagation.find((p) => p.edges === 20);
const httpEddsaRatio = (subject: string, baseline: string, method: string) => (f: BenchFigures) =>
  f.http.ratios[`node/${subject}/${method} / node/${baseline}/${method} req/s`] as Summary;
const fewestKeysUnderLimit = (f: BenchFigures) =>
  Math.min(
    ...f.keysetSize.series
      .filter((s) => s.series === 'EdDSA' || s.series === 'ES256')
      .map((s) => s.keysUnderLimit),
  );

const ASYMMETRIC_BOUND =
  'one signature check on an imported public key costs tens of µs; what Keyward adds around it (parsing, the ' +
  "key's lookup, the algorithm pinned to the key, claim checks) must stay small beside it";
const FASTER_THAN_JOSE =
  'jose is what a user verifying EdDSA or ES256 tokens would otherwise pick on this runtime; a verifier built ' +
  'for one job must not be the slower choice';

/** The four verify targets of one asymmetric algorithm on Node and on workerd. */
function asymmetricTargets(alg: 'EdDSA' | 'ES256'): Target[] {
  const x = alg.toLowerCase();
  return [
    {
      target: `${alg} verify on Node (nodeVerify) within 1.2x of the Node lower bound`,
      reason: `${ASYMMETRIC_BOUND}; the bound is one crypto.verify on a KeyObject plus the parsing by hand`,
      case: 'inProcess',
      figure: nodeRatio(`keyward-node/${x} / node-lower-bound/${x}`),
      unit: 'x',
      bound: { atMost: 1.2 },
    },
    {
      target: `${alg} verify on Node (nodeVerify) faster than jose`,
      reason: FASTER_THAN_JOSE,
      case: 'inProcess',
      figure: nodeRatio(`keyward-node/${x} / jose-cryptokey/${x}`),
      unit: 'x',
      bound: { below: 1.0 },
    },
    {
      target: `${alg} verify on workerd within 1.2x of raw crypto.subtle.verify`,
      reason: `${ASYMMETRIC_BOUND}; the bound is one crypto.subtle.verify plus the parsing by hand`,
      case: 'workerd',
      figure: workerdRatio(`keyward/${x} / lower-bound/${x}`),
      unit: 'x',
      bound: { atMost: 1.2 },
    },
    {
      target: `${alg} verify on workerd faster than jose`,
      reason: FASTER_THAN_JOSE,
      case: 'workerd',
      figure: workerdRatio(`keyward/${x} / jose-cryptokey/${x}`),
      unit: 'x',
      bound: { below: 1.0 },
    },
  ];
}

const HTTP_LAYER =
  "the Node entry's HTTP layer (routing, Bearer or JSON parsing, the answer's headers) over the plainest " +
  'node:http server doing the same verify';
const FLOOR =
  'the floor is what any /verify must spend on this runtime: its fastest bare server answering the same JSON ' +
  'without verifying, plus one hand-written verify with the fastest of its node:crypto, its WebCrypto and, for ' +
  'HS256, an HMAC in JavaScript (in CPU ' +
  'time, as the servers are measured); what ' +
  'Keyward adds on top (the key ring, error codes, the protocol shared with the Worker) may cost 20% of it';
const floorRatio = (id: string) => (f: BenchFigures) =>
  f.http.ratios[`${id} / floor server CPU per request`] as Summary;
const SERVED_AS_ONE =
  "the floor's two parts do not add up inside one process (the verify runs with cold caches between socket " +
  'reads, and a slower server batches fewer requests per event-loop turn), so the hand-written bare server with ' +
  'the raw verify in it is the floor any /verify reaches on this runtime; Keyward may add 20% to it';

const PROPAGATION =
  'an operator (or the scheduler) waits from the call until every edge holds the new kid, and issuers may sign ' +
  'with it as soon as the call returns; the call waits for the pushes, so this is the time a rotation takes, ' +
  'and it must stay short with 20 edges too';

const REVOCATION_BUDGET =
  'a revoked token is one an attacker may hold: every edge must refuse it within the same push budget as a ' +
  'rotation, and the call that revokes it waits for the pushes';

export const TARGETS: Target[] = [
  {
    target: 'HS256 verify on Node (nodeVerify) within 1.3x of the Node lower bound',
    reason:
      'the key ring, error codes and claim checks may cost a little over a hand-written node:crypto verify, ' +
      'not a multiple of it',
    case: 'inProcess',
    figure: nodeRatio(NODE_VERIFY),
    unit: 'x',
    bound: { atMost: 1.3 },
  },
  {
    target: 'HS256 verify on Node (nodeVerify) no slower than fast-jwt',
    reason: 'fast-jwt is what a Node user would pick for speed; Keyward must not be the slower choice',
    case: 'inProcess',
    figure: nodeRatio('keyward-node / fast-jwt'),
    unit: 'x',
    bound: { atMost: 1.0 },
  },
  {
    target: 'HS256 verify on workerd within 1.3x of raw crypto.subtle.verify',
    reason: 'the same bound as on Node, on the Workers runtime the edge is deployed to',
    case: 'workerd',
    figure: workerdRatio('keyward / lower-bound'),
    unit: 'x',
    bound: { atMost: 1.3 },
  },
  {
    target: 'cache hit on Node within 0.4x of the Node lower bound',
    reason: 'the verified-token cache is worth its memory only if a hit costs well under a verify',
    case: 'inProcess',
    figure: nodeRatio('keyward-node/cache-hit / node-lower-bound'),
    unit: 'x',
    bound: { atMost: 0.4 },
  },
  {
    target: 'cache hit on workerd within 0.4x of the workerd lower bound',
    reason: 'the verified-token cache is worth its memory only if a hit costs well under a verify',
    case: 'workerd',
    figure: workerdRatio('keyward/cache-hit / lower-bound'),
    unit: 'x',
    bound: { atMost: 0.4 },
  },
  ...['GET', 'POST'].flatMap((method): Target[] => [
    {
      target: `${method} /verify on Node entry >= 0.85x bare node:http + raw verify req/s`,
      reason: `${HTTP_LAYER} may take at most 15% of the throughput`,
      case: 'http',
      figure: httpRatio(method, 'req/s'),
      unit: 'x',
      bound: { atLeast: 0.85 },
    },
    {
      target: `${method} /verify on Node entry p99 within 1.5x of bare node:http + raw verify`,
      reason: `${HTTP_LAYER}, in tail latency, which a forward-auth proxy adds to every request it guards`,
      case: 'http',
      figure: httpRatio(method, 'p99'),
      unit: 'x',
      bound: { atMost: 1.5 },
    },
  ]),
  ...['node', 'bun', 'deno'].flatMap((runtime) =>
    ['GET', 'POST'].map(
      (method): Target => ({
        target: `${method} /verify on the ${runtime} entry within 1.2x of its floor, server CPU per request`,
        reason: FLOOR,
        case: 'http',
        figure: floorRatio(`${runtime}/keyward/${method}`),
        unit: 'x',
        bound: { atMost: 1.2 },
      }),
    ),
  ),
  ...['node', 'bun', 'deno'].flatMap((runtime) =>
    ['GET', 'POST'].map(
      (method): Target => ({
        target: `${method} /verify on the ${runtime} entry within 1.2x of the bare server with the raw verify, server CPU per request`,
        reason: SERVED_AS_ONE,
        case: 'http',
        figure: (f) =>
          f.http.ratios[
            `${runtime}/keyward/${method} / ${runtime}/bare-http+raw-verify/${method} server CPU per request`
          ] as Summary,
        unit: 'x',
        bound: { atMost: 1.2 },
      }),
    ),
  ),
  ...asymmetricTargets('EdDSA'),
  ...asymmetricTargets('ES256'),
  ...['GET', 'POST'].map(
    (method): Target => ({
      target: `${method} /verify EdDSA on Node entry >= 0.85x bare node:http + raw EdDSA verify req/s`,
      reason: `${HTTP_LAYER}, with EdDSA tokens and the public keyset an edge holds for them`,
      case: 'http',
      figure: httpEddsaRatio('keyward-eddsa', 'bare-http+raw-verify-eddsa', method),
      unit: 'x',
      bound: { atLeast: 0.85 },
    }),
  ),
  {
    target: 'GET /verify EdDSA on Node entry with the cache on >= 1.1x req/s of the cache off',
    reason:
      'the verified-token cache is on by default for what an asymmetric verify costs; with one token repeated, ' +
      'hits must show in throughput, or the cache is not worth its memory',
    case: 'http',
    figure: httpEddsaRatio('keyward-eddsa-cached', 'keyward-eddsa', 'GET'),
    unit: 'x',
    bound: { atLeast: 1.1 },
  },
  {
    target: 'rotation at 20 edges: every edge verifying the new kid, median <= 20 ms from the call',
    reason: PROPAGATION,
    case: 'rotation',
    figure: (f) => at20Edges(f)?.visibleAfterCall.p50Ms ?? Number.NaN,
    unit: 'ms',
    bound: { atMost: 20 },
  },
  {
    target: 'rotation at 20 edges: every edge verifying the new kid, p99 <= 60 ms from the call',
    reason: PROPAGATION,
    case: 'rotation',
    figure: (f) => at20Edges(f)?.visibleAfterCall.p99Ms ?? Number.NaN,
    unit: 'ms',
    bound: { atMost: 60 },
  },
  {
    target: "one edge adds <= 1.5 ms to RotateSecret's latency without edges (medians)",
    reason:
      'a push is one small PUT on a kept-alive connection and one open of the envelope at the edge; RotateSecret ' +
      'waits for it, so whatever it costs beyond that every operator and scheduler call pays, per edge (measured ' +
      'against a no-edge RotateSecret timed alike, interleaved; the same PUT to one bare server, paced alike, is ' +
      'reported beside it as the floor under it)',
    case: 'rotation',
    figure: (f) => f.rotation.oneEdgeAddsMs,
    unit: 'ms',
    bound: { atMost: 1.5 },
  },
  {
    target: 'rotation visible at 20 edges: none missing after 2 s',
    reason: 'a rotation that never reaches an edge is a failure, whatever the other rotations measured',
    case: 'rotation',
    figure: (f) => at20Edges(f)?.notVisibleWithin2s ?? Number.NaN,
    unit: 'rotations',
    bound: { atMost: 0 },
  },
  {
    target: 'push to 1,000 edges: RotateSecret answers within PUSH_BUDGET (p99)',
    reason:
      'the answer must come by the documented budget whatever the slowest edges do; the edges not done by then ' +
      'are reported and pushed to in the background',
    case: 'fanout',
    figure: (f) => f.fanout.rotateSecret.p99Ms,
    unit: 'ms',
    bound: { atMost: 5_000 },
  },
  {
    target: 'push to 1,000 edges: every edge confirmed in every answer',
    reason:
      'on loopback every edge answers well within the budget: an edge reported unconfirmed is a failure',
    case: 'fanout',
    figure: (f) => f.fanout.notConfirmed,
    unit: 'edges',
    bound: { atMost: 0 },
  },
  {
    target: 'revocation at 20 edges: every edge refusing the token, median <= 20 ms from the call',
    reason: REVOCATION_BUDGET,
    case: 'revocationPropagation',
    figure: (f) => f.revocationPropagation.propagation.refusedAfterCall.p50Ms,
    unit: 'ms',
    bound: { atMost: 20 },
  },
  {
    target: 'revocation at 20 edges: every edge refusing the token, p99 <= 60 ms from the call',
    reason: REVOCATION_BUDGET,
    case: 'revocationPropagation',
    figure: (f) => f.revocationPropagation.propagation.refusedAfterCall.p99Ms,
    unit: 'ms',
    bound: { atMost: 60 },
  },
  {
    target: 'revocation at 20 edges with 100,000 live: every edge refusing, median <= 20 ms from the call',
    reason: `${REVOCATION_BUDGET}; 100,000 live revocations must not break that budget`,
    case: 'revocationPropagation',
    figure: (f) => f.revocationPropagation.scale.propagation.refusedAfterCall.p50Ms,
    unit: 'ms',
    bound: { atMost: 20 },
  },
  {
    target: 'revocation at 20 edges: no call some edge still verified 2 s after the answer',
    reason: 'a revocation that never reaches an edge is a failure, whatever the other calls measured',
    case: 'revocationPropagation',
    figure: (f) =>
      f.revocationPropagation.propagation.notRefusedWithin2s +
      f.revocationPropagation.scale.propagation.notRefusedWithin2s,
    unit: 'calls',
    bound: { atMost: 0 },
  },
  {
    target: 'worker bundle (gzip) under the 3 MB limit',
    reason: 'Cloudflare refuses a compressed Worker over 3 MB on the Workers Free plan',
    case: 'bundle',
    figure: (f) => f.bundle.gzipBytes / 1024,
    unit: 'KiB',
    bound: { below: WORKER_LIMIT_BYTES / 1024 },
  },
  {
    target: 'worker bundle (gzip) <= 60 KiB with every feature in',
    reason:
      "a Worker's cold start grows with the script workerd must parse and compile, and the edge needs little: " +
      'Hono, the verify path, the envelope (jose) and the pull; a dependency that is most of the bundle (zod ' +
      'was) is paid at every cold start',
    case: 'bundle',
    figure: (f) => f.bundle.gzipBytes / 1024,
    unit: 'KiB',
    bound: { atMost: 60 },
  },
  {
    target: "100 EdDSA or ES256 keys seal under the edges' 64 KiB envelope limit",
    reason:
      'previous keys stay in the keyset through their grace period (hourly rotation with a four-day grace ' +
      'keeps about 100); an edge refuses a larger envelope, so the control plane refuses to seal it',
    case: 'keysetSize',
    figure: fewestKeysUnderLimit,
    unit: 'keys',
    bound: { atLeast: 100 },
  },
  {
    target: 'verify with 100,000 live revocations within 1.05x of the same verify holding none',
    reason:
      'every valid token goes through the revocation set; holding the largest set an incident plausibly needs ' +
      '(two Map lookups, jti and sub) must not show in the cost of a verify',
    case: 'revocations',
    figure: (f) => f.revocations.ratios['revocations-100000 / revocations-0'] as Summary,
    unit: 'x',
    bound: { atMost: 1.05 },
  },
  {
    target:
      'Worker isolates: every one refuses an emergency-revoked key within 2 x KEYSET_REVALIDATE, every round',
    reason:
      'a push reaches one isolate; the README promises every other isolate of the Worker takes a change within ' +
      "twice KEYSET_REVALIDATE (a location's shared copy up to one interval old, then one interval to ask again)",
    case: 'isolates',
    figure: (f) => f.isolates.revokedRefused.overBound,
    unit: 'rounds',
    bound: { atMost: 0 },
  },
];

/**
 * Judges every target against one run's figures; NaN (a figure that is missing) never meets a bound. A target
 * whose case did not run (`--only`) is left out.
 */
export function judge(figures: Partial<BenchFigures>, targets: readonly Target[] = TARGETS): Verdict[] {
  return targets
    .filter((t) => figures[t.case] !== undefined)
    .map((t) => {
      const figure = t.figure(figures as BenchFigures);
      const value = typeof figure === 'number' ? figure : figure.median;
      const met =
        'atMost' in t.bound
          ? value <= t.bound.atMost
          : 'atLeast' in t.bound
            ? value >= t.bound.atLeast
            : value < t.bound.below;
      const measured =
        typeof figure !== 'number'
          ? ratioText(figure)
          : t.unit === 'rotations' || t.unit === 'calls' || t.unit === 'keys' || t.unit === 'edges'
            ? `${fmt(figure, 0)} ${t.unit}`
            : `${fmt(figure, t.unit === 'KiB' ? 1 : 2)} ${t.unit}`;
      return { target: t.target, reason: t.reason, measured, met };
    });
}
