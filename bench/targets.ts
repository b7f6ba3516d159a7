/**
 * The bench's targets: each names a figure of the run, the bound it must keep, and why that bound. The verdicts
 * go to the printed table and to bench/results.json; a missed target does not stop the run.
 */
import { fmt, ratioText } from '../test/support/figure-format.ts';
import type { Summary } from '../test/support/stats.ts';
import { WORKER_LIMIT_BYTES } from './cases/worker-bundle-size.ts';
import type { BenchFigures } from './figures.ts';

export interface Target {
  target: string;
  reason: string;
  /** A per-round ratio (judged by its median) or a single value in `unit`. */
  figure: (figures: BenchFigures) => Summary | number;
  unit: 'x' | 'ms' | 'KiB' | 'rotations';
  bound: { atMost: number } | { atLeast: number } | { below: number };
}

export interface Verdict {
  target: string;
  reason: string;
  measured: string;
  met: boolean;
}

const NODE_VERIFY = 'keyward-node-hmac / node-lower-bound';
const nodeRatio = (name: string) => (f: BenchFigures) => f.inProcess.ratios[name] as Summary;
const workerdRatio = (name: string) => (f: BenchFigures) => f.workerd.ratios[name] as Summary;
const httpRatio = (method: string, field: string) => (f: BenchFigures) =>
  f.http.ratios[`node/keyward/${method} / node/bare-http+raw-verify/${method} ${field}`] as Summary;
const at20Edges = (f: BenchFigures) => f.rotation.propagation.find((p) => p.edges === 20);

const HTTP_LAYER =
  "the Node entry's HTTP layer (routing, Bearer or JSON parsing, the answer's headers) over the plainest " +
  'node:http server doing the same verify';
const PROPAGATION =
  'issuers may sign with the new key as soon as RotateSecret returns, and an edge that does not hold its kid ' +
  'yet refuses those tokens; the window must stay short with 20 edges too';

export const TARGETS: Target[] = [
  {
    target: 'verify on Node (nodeHmac) within 1.3x of the Node lower bound',
    reason:
      'the key ring, error codes and claim checks may cost a little over a hand-written node:crypto verify, ' +
      'not a multiple of it',
    figure: nodeRatio(NODE_VERIFY),
    unit: 'x',
    bound: { atMost: 1.3 },
  },
  {
    target: 'verify on Node (nodeHmac) no slower than fast-jwt',
    reason: 'fast-jwt is what a Node user would pick for speed; Keyward must not be the slower choice',
    figure: nodeRatio('keyward-node-hmac / fast-jwt'),
    unit: 'x',
    bound: { atMost: 1.0 },
  },
  {
    target: 'verify on workerd within 1.3x of raw crypto.subtle.verify',
    reason: 'the same bound as on Node, on the Workers runtime the edge is deployed to',
    figure: workerdRatio('keyward / lower-bound'),
    unit: 'x',
    bound: { atMost: 1.3 },
  },
  {
    target: 'cache hit on Node within 0.4x of the Node lower bound',
    reason: 'the verified-token cache is worth its memory only if a hit costs well under a verify',
    figure: nodeRatio('keyward-node-hmac/cache-hit / node-lower-bound'),
    unit: 'x',
    bound: { atMost: 0.4 },
  },
  {
    target: 'cache hit on workerd within 0.4x of the workerd lower bound',
    reason: 'the verified-token cache is worth its memory only if a hit costs well under a verify',
    figure: workerdRatio('keyward/cache-hit / lower-bound'),
    unit: 'x',
    bound: { atMost: 0.4 },
  },
  ...['GET', 'POST'].flatMap((method): Target[] => [
    {
      target: `${method} /verify on Node entry >= 0.85x bare node:http + raw verify req/s`,
      reason: `${HTTP_LAYER} may take at most 15% of the throughput`,
      figure: httpRatio(method, 'req/s'),
      unit: 'x',
      bound: { atLeast: 0.85 },
    },
    {
      target: `${method} /verify on Node entry p99 within 1.5x of bare node:http + raw verify`,
      reason: `${HTTP_LAYER}, in tail latency, which a forward-auth proxy adds to every request it guards`,
      figure: httpRatio(method, 'p99'),
      unit: 'x',
      bound: { atMost: 1.5 },
    },
  ]),
  {
    target: 'rotation visible at 20 edges: median <= 50 ms after RotateSecret returns',
    reason: PROPAGATION,
    figure: (f) => at20Edges(f)?.visibleAfterReturn.p50Ms ?? Number.NaN,
    unit: 'ms',
    bound: { atMost: 50 },
  },
  {
    target: 'rotation visible at 20 edges: worst <= 250 ms after RotateSecret returns',
    reason: PROPAGATION,
    figure: (f) => at20Edges(f)?.visibleAfterReturn.maxMs ?? Number.NaN,
    unit: 'ms',
    bound: { atMost: 250 },
  },
  {
    target: 'rotation visible at 20 edges: none missing after 2 s',
    reason: 'a rotation that never reaches an edge is a failure, whatever the other rotations measured',
    figure: (f) => at20Edges(f)?.notVisibleWithin2s ?? Number.NaN,
    unit: 'rotations',
    bound: { atMost: 0 },
  },
  {
    target: 'worker bundle (gzip) under the 3 MB limit',
    reason: 'Cloudflare refuses a compressed Worker over 3 MB on the Workers Free plan',
    figure: (f) => f.bundle.gzipBytes / 1024,
    unit: 'KiB',
    bound: { below: WORKER_LIMIT_BYTES / 1024 },
  },
];

/** Judges every target against one run's figures; NaN (a figure that is missing) never meets a bound. */
export function judge(figures: BenchFigures, targets: readonly Target[] = TARGETS): Verdict[] {
  return targets.map((t) => {
    const figure = t.figure(figures);
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
        : t.unit === 'rotations'
          ? `${fmt(figure, 0)} ${t.unit}`
          : `${fmt(figure, t.unit === 'KiB' ? 1 : 2)} ${t.unit}`;
    return { target: t.target, reason: t.reason, measured, met };
  });
}
