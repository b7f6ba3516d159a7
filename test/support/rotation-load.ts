/**
 * Sustained /verify load on real edges while the keyset rotates underneath: autocannon in this process, one
 * token per request drawn from a per-edge pool that only ever holds tokens valid when sent (a key's tokens
 * join an edge's pool once that edge holds the key, and leave it well before the key's grace ends), and every
 * answer checked against the key that signed the token. Shared by rotation-under-load.e2e.test.ts and
 * test/soak/soak.ts.
 */
import autocannon from 'autocannon';
import type { RotateSecretResponse } from '../../control-plane/src/grpc/proto.ts';
import { computeKid } from '../../shared/kid.ts';
import { type EdgeAnswer, edgeVersion, forwardAuthAt, verifyAt } from './edge-http-client.ts';
import { signToken } from './sign-token.ts';
import { waitFor } from './wait-for.ts';

export interface PoolToken {
  token: string;
  /** The kid of the key that signed it, also when the token itself carries none. */
  kid: string;
  carriesKid: boolean;
  /** 0 for the key active when the load started, n for the key installed by the n-th rotation. */
  generation: number;
}

/** Every `noKidEvery`-th token is signed without a kid header (the edge then tries active, then previous). */
export async function signGeneration(
  secret: string,
  generation: number,
  count: number,
  noKidEvery = 10,
): Promise<PoolToken[]> {
  const kid = await computeKid(secret);
  return Array.from({ length: count }, (_, index) => {
    const carriesKid = index % noKidEvery !== noKidEvery - 1;
    const claims = { sub: `load-g${generation}-${index}` };
    return { token: signToken(secret, carriesKid ? kid : undefined, claims), kid, carriesKid, generation };
  });
}

/** Share of requests that use the newest key's tokens: right after a rotation is where it would break. */
const NEWEST_SHARE = 0.3;

/** The tokens one edge may be sent: each valid at that edge from the moment it is added until retired. */
export class TokenPool {
  #entries: PoolToken[] = [];
  #newest: PoolToken[] = [];
  readonly #retireAt = new Map<number, number>();

  get size(): number {
    return this.#entries.length;
  }

  /** Tokens of a key the edge now holds; they become the newest generation. */
  add(tokens: readonly PoolToken[]): void {
    if (tokens.length === 0) return;
    this.#entries = [...this.#entries, ...tokens];
    this.#newest = [...tokens];
  }

  /** Takes `generation` out of the pool at `atMs` (epoch ms), through prune(). */
  retire(generation: number, atMs: number): void {
    this.#retireAt.set(generation, atMs);
  }

  /** Drops the generations whose retirement time has come. */
  prune(nowMs = Date.now()): void {
    const gone = new Set(
      [...this.#retireAt].filter(([, at]) => at <= nowMs).map(([generation]) => generation),
    );
    if (gone.size === 0) return;
    for (const generation of gone) this.#retireAt.delete(generation);
    this.#entries = this.#entries.filter((entry) => !gone.has(entry.generation));
    this.#newest = this.#newest.filter((entry) => !gone.has(entry.generation));
  }

  pick(): PoolToken {
    const from = this.#newest.length > 0 && Math.random() < NEWEST_SHARE ? this.#newest : this.#entries;
    return from[Math.floor(Math.random() * from.length)] as PoolToken;
  }

  all(): readonly PoolToken[] {
    return this.#entries;
  }
}

export interface EdgeUnderLoad {
  name: string;
  url: string;
  pool: TokenPool;
}

export interface WrongAnswer {
  method: 'GET' | 'POST';
  status: number;
  error: string;
  generation: number;
  carriesKid: boolean;
  /** When the answer came, ISO 8601. */
  at: string;
}

export interface LoadTally {
  /** Requests written (one token each). */
  sent: number;
  /** Requests answered at all. */
  answered: number;
  /** Answered 200 valid with the kid of the key that signed the token. */
  verified: number;
  verifiedByMethod: { GET: number; POST: number };
  verifiedByGeneration: Map<number, number>;
  /** Any other answer to a token that was valid when sent, by `status error`, e.g. `401 key_unknown`. */
  wrong: Record<string, number>;
  /** Requests that got no answer (autocannon's errors, timeouts included), by reason. */
  transport: Record<string, number>;
  /** The first few wrong answers, for the failure message. */
  firstWrong: WrongAnswer[];
}

export interface VerifyLoad {
  edge: EdgeUnderLoad;
  tally: LoadTally;
  /** Ends the load; `done` resolves once autocannon has stopped its clients (within about a second). */
  stop(): void;
  done: Promise<autocannon.Result>;
}

export interface VerifyLoadOptions {
  connections: number;
  /** Upper bound on the load's length; normally it is stopped earlier with stop(). */
  maxSeconds: number;
  /** A request unanswered for this long counts as lost (autocannon's per-request timeout). */
  timeoutSeconds?: number;
}

const MAX_WRONG_KEPT = 20;

interface Sent {
  sent?: PoolToken;
}

function headerValue(headers: Record<string, unknown> | undefined, name: string): unknown {
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

function errorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : 'no error code';
  } catch {
    return 'not JSON';
  }
}

/**
 * Alternating POST /verify (JSON body) and GET /verify (Bearer, forward auth) on `edge`, each with a token
 * picked from its pool. A 200 counts only with `"valid":true` and the signing key's kid (in the body, and in
 * X-Auth-Kid for GET).
 */
export function startVerifyLoad(edge: EdgeUnderLoad, options: VerifyLoadOptions): VerifyLoad {
  const tally: LoadTally = {
    sent: 0,
    answered: 0,
    verified: 0,
    verifiedByMethod: { GET: 0, POST: 0 },
    verifiedByGeneration: new Map(),
    wrong: {},
    transport: {},
    firstWrong: [],
  };
  const take = (context: object): PoolToken => {
    const token = edge.pool.pick();
    (context as Sent).sent = token;
    tally.sent++;
    return token;
  };
  const check = (
    method: 'GET' | 'POST',
    status: number,
    body: string,
    context: object,
    headers?: Record<string, unknown>,
  ) => {
    const sent = (context as Sent).sent;
    if (sent === undefined) return;
    tally.answered++;
    const rightKid =
      body.includes('"valid":true') &&
      body.includes(`"kid":"${sent.kid}"`) &&
      (method === 'POST' || headerValue(headers, 'x-auth-kid') === sent.kid);
    if (status === 200 && rightKid) {
      tally.verified++;
      tally.verifiedByMethod[method]++;
      tally.verifiedByGeneration.set(
        sent.generation,
        (tally.verifiedByGeneration.get(sent.generation) ?? 0) + 1,
      );
      return;
    }
    const error = status === 200 ? 'wrong kid or not valid' : errorCode(body);
    const reason = `${method} ${status} ${error}`;
    tally.wrong[reason] = (tally.wrong[reason] ?? 0) + 1;
    if (tally.firstWrong.length < MAX_WRONG_KEPT) {
      tally.firstWrong.push({
        method,
        status,
        error,
        generation: sent.generation,
        carriesKid: sent.carriesKid,
        at: new Date().toISOString(),
      });
    }
  };

  let settle: (result: autocannon.Result) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const instance = autocannon(
    {
      url: edge.url,
      connections: options.connections,
      pipelining: 1,
      duration: options.maxSeconds,
      timeout: options.timeoutSeconds ?? 10,
      requests: [
        {
          method: 'POST',
          path: '/verify',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request, context) => {
            request.body = JSON.stringify({ token: take(context).token });
            return request;
          },
          onResponse: (status, body, context) => check('POST', status, body, context),
        },
        {
          method: 'GET',
          path: '/verify',
          setupRequest: (request, context) => {
            request.headers = { ...request.headers, authorization: `Bearer ${take(context).token}` };
            return request;
          },
          onResponse: (status, body, context, headers) =>
            check('GET', status, body, context, headers as Record<string, unknown>),
        },
      ],
    },
    (error, result) => (error ? fail(error as Error) : settle(result)),
  );
  instance.on('reqError', (error: { code?: string; message?: string }) => {
    const reason = error.code ?? error.message ?? 'unknown';
    tally.transport[reason] = (tally.transport[reason] ?? 0) + 1;
  });
  return { edge, tally, stop: () => instance.stop(), done };
}

export interface RotationRecord {
  generation: number;
  version: number;
  /** Epoch ms at which RotateSecret was called: the superseded key's grace runs from no earlier than this. */
  calledAtMs: number;
  rpcMs: number;
  /** Edges the answer did not report as confirmed; they were waited for (pull or background push). */
  unconfirmed: string[];
}

/**
 * Rotates to `secret` and adds tokens of the new key to each edge's pool as soon as that edge holds it: at
 * once for edges the answer confirms, after polling /healthz (bounded by `catchUpMs`) for the others.
 */
export async function rotateAndFeed(options: {
  rotate: (secret: string) => Promise<RotateSecretResponse>;
  secret: string;
  generation: number;
  edges: readonly EdgeUnderLoad[];
  tokensPerKey: number;
  catchUpMs: number;
}): Promise<RotationRecord> {
  const tokens = await signGeneration(options.secret, options.generation, options.tokensPerKey);
  const calledAtMs = Date.now();
  const started = performance.now();
  const response = await options.rotate(options.secret);
  const rpcMs = performance.now() - started;
  if (!response.success || response.kid !== tokens[0]?.kid) {
    throw new Error(`rotation ${options.generation}: unexpected answer ${response.message}`);
  }
  const version = Number(response.version);
  const confirmed = new Set(response.edges.filter((edge) => edge.confirmed).map((edge) => edge.url));
  const unconfirmed: string[] = [];
  for (const edge of options.edges) {
    if (confirmed.has(edge.url)) {
      edge.pool.add(tokens);
      continue;
    }
    unconfirmed.push(edge.name);
    await waitFor(async () => ((await edgeVersion(edge.url)) >= version ? true : undefined), {
      what: `the ${edge.name} edge to hold keyset version ${version}`,
      timeoutMs: options.catchUpMs,
      intervalMs: 50,
    });
    edge.pool.add(tokens);
  }
  return { generation: options.generation, version, calledAtMs, rpcMs, unconfirmed };
}

export interface UnexpectedAnswer {
  edge: string;
  method: 'GET' | 'POST';
  generation: number;
  carriesKid: boolean;
  answer: EdgeAnswer | { error: string };
}

/**
 * Sends every token to every edge with POST and GET /verify and returns the answers that differ from
 * `expected`: `verified` (200 valid with the right kid and X-Auth-Kid), or `refused` (401, `key_unknown`
 * for a token with a kid and `signature_invalid` without, and a Bearer invalid_token challenge on GET).
 */
export async function unexpectedAnswers(
  edges: readonly { name: string; url: string }[],
  tokens: readonly PoolToken[],
  expected: 'verified' | 'refused',
  concurrency = 8,
): Promise<{ checked: number; unexpected: UnexpectedAnswer[] }> {
  const jobs = edges.flatMap((edge) =>
    tokens.flatMap((token) => (['POST', 'GET'] as const).map((method) => ({ edge, token, method }))),
  );
  const unexpected: UnexpectedAnswer[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { edge, token, method } = jobs[next++] as (typeof jobs)[number];
      const note = { edge: edge.name, method, generation: token.generation, carriesKid: token.carriesKid };
      try {
        const answer =
          method === 'POST'
            ? await verifyAt(edge.url, token.token)
            : await forwardAuthAt(edge.url, token.token);
        if (!answerIs(answer, method, token, expected)) unexpected.push({ ...note, answer });
      } catch (error) {
        unexpected.push({ ...note, answer: { error: (error as Error).message } });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return { checked: jobs.length, unexpected };
}

function answerIs(
  answer: EdgeAnswer,
  method: 'GET' | 'POST',
  token: PoolToken,
  expected: 'verified' | 'refused',
): boolean {
  if (expected === 'verified') {
    const headerOk = method === 'POST' || answer.headers?.['x-auth-kid'] === token.kid;
    return answer.status === 200 && answer.body.valid === true && answer.body.kid === token.kid && headerOk;
  }
  const code = token.carriesKid ? 'key_unknown' : 'signature_invalid';
  const challengeOk =
    method === 'POST' || (answer.headers?.['www-authenticate'] ?? '').includes('error="invalid_token"');
  return answer.status === 401 && answer.body.valid === false && answer.body.error === code && challengeOk;
}

/** Sums the tallies of several loads. */
export function totalOf(tallies: readonly LoadTally[]): {
  sent: number;
  answered: number;
  verified: number;
  wrong: number;
  transport: number;
} {
  const sum = (pick: (tally: LoadTally) => number) =>
    tallies.reduce((total, tally) => total + pick(tally), 0);
  const count = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);
  return {
    sent: sum((tally) => tally.sent),
    answered: sum((tally) => tally.answered),
    verified: sum((tally) => tally.verified),
    wrong: sum((tally) => count(tally.wrong)),
    transport: sum((tally) => count(tally.transport)),
  };
}
