/**
 * The /verify protocol (SPEC section 6), free of any HTTP framework: method, Authorization and a body reader in,
 * status, headers and JSON text out. The Hono route and the Node entry's direct path both call it, so the edge
 * speaks one protocol whatever carries the request.
 */
import { bearerToken } from '../../../shared/bearer-token.ts';
import type { VerifyResult } from '../../../shared/verify-token.ts';
import { EdgeError } from '../errors.ts';
import type { KeysetStore } from '../keyset/keyset-store.ts';
import type { KeysetSync } from '../keyset/keyset-sync.ts';
import type { TokenVerifier } from '../token-verifier.ts';
import {
  type ErrorAnswer,
  forwardAuthFailure,
  INTERNAL_ERROR,
  KEYSET_UNAVAILABLE,
  verifyFailure,
} from './error-answers.ts';
import { accessLine, type EdgeMetrics } from './metrics-answer.ts';

/**
 * Reads the request body as UTF-8 (undefined when it is not), or a promise of it; throws (or rejects with)
 * EdgeError `body_too_large`. A server that has the body already (read ahead, `bodyLimit` bytes at most) answers
 * at once.
 */
export type BodyReader = (maxBytes: number) => string | undefined | Promise<string | undefined>;

export interface VerifyRequest {
  method: 'GET' | 'POST';
  /** Every Authorization header of the request, joined with ", " as the web Headers does. */
  authorization: string | null | undefined;
  /** Read only for a POST without a Bearer token. */
  readBody: BodyReader;
  /** Keeps a pull started by this request alive past the answer (waitUntil on Workers). */
  background: (task: Promise<unknown>) => void;
}

export interface VerifyAnswer {
  status: 200 | ErrorAnswer<unknown>['status'];
  /** Lower-case names, content-type included. */
  headers: Record<string, string>;
  /** The JSON text of the answer. */
  body: string;
  /** "valid", or the error code the answer carries (for the counters and the access log). */
  outcome: string;
}

export interface VerifyProtocolParts {
  verifier: TokenVerifier;
  store: KeysetStore;
  sync: KeysetSync;
  maxTokenBytes: number;
  log: (message: string) => void;
  /** Counts every answer's outcome. */
  metrics: EdgeMetrics;
  /** ACCESS_LOG: one line per request through `log`. */
  accessLog: boolean;
}

// Room for `{"token": ...}` around the largest token we accept.
const VERIFY_BODY_OVERHEAD = 1024;
// Printable ASCII with no space at either end: anything else cannot travel in an HTTP header unchanged (a
// parser trims the ends as optional whitespace, so " admin" would arrive as "admin").
const HEADER_SAFE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;
const JSON_NO_STORE = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export class VerifyProtocol {
  readonly #parts: VerifyProtocolParts;
  // performance.now stands still during a Worker's request (timing side channels): durations there read 0.
  readonly #clock: () => number;

  /** The most a POST body may hold: `{"token": ...}` around the largest token taken (MAX_TOKEN_BYTES). */
  readonly bodyLimit: number;

  constructor(parts: VerifyProtocolParts) {
    this.#parts = parts;
    this.bodyLimit = parts.maxTokenBytes + VERIFY_BODY_OVERHEAD;
    this.#clock = () => performance.now();
  }

  /** Answers one /verify request, as a promise; see `respond`. */
  async answer(request: VerifyRequest): Promise<VerifyAnswer> {
    return this.respond(request);
  }

  /**
   * Answers one /verify request; an unexpected error is logged (by name only) and answered 500, never thrown.
   * The answer comes at once, no promise and no microtask, whenever nothing has to be waited for: a usable
   * keyset held, the token in the Authorization header (GET, or POST with Bearer), a synchronous primitive
   * (node:crypto) and a kid the ring knows. Otherwise a promise of it.
   */
  respond(request: VerifyRequest): VerifyAnswer | Promise<VerifyAnswer> {
    const startedAt = this.#parts.accessLog ? this.#clock() : 0;
    let answer: VerifyAnswer | Promise<VerifyAnswer>;
    try {
      answer = this.#answer(request);
    } catch (error) {
      answer = this.#unexpected(error);
    }
    return answer instanceof Promise
      ? answer.then(
          (settled) => this.#done(request, settled, startedAt),
          (error: unknown) => this.#done(request, this.#unexpected(error), startedAt),
        )
      : this.#done(request, answer, startedAt);
  }

  #done(request: VerifyRequest, answer: VerifyAnswer, startedAt: number): VerifyAnswer {
    this.#parts.metrics.verified(answer.outcome);
    if (this.#parts.accessLog) {
      const durationMs = this.#clock() - startedAt;
      this.#parts.log(accessLine(request.method, '/verify', answer.status, answer.outcome, durationMs));
    }
    return answer;
  }

  #unexpected(error: unknown): VerifyAnswer {
    this.#parts.log(`edge: unexpected error: ${error instanceof Error ? error.name : typeof error}`);
    return failure(INTERNAL_ERROR);
  }

  #answer(request: VerifyRequest): VerifyAnswer | Promise<VerifyAnswer> {
    const { sync, store } = this.#parts;
    const ready = sync.beforeRequest(request.background);
    // With a usable keyset held, beforeRequest waits for nothing (it may start a pull in the background, kept
    // alive by `request.background`) and gives no promise. Without one (cold, or past KEYSET_MAX_STALENESS) it
    // may pull first, and the verdict waits for that.
    if (ready === undefined) return this.#verdict(request);
    if (store.usableRing() === undefined) return ready.then(() => this.#verdict(request));
    ready.catch((error: unknown) => this.#unexpected(error));
    return this.#verdict(request);
  }

  #verdict(request: VerifyRequest): VerifyAnswer | Promise<VerifyAnswer> {
    return request.method === 'GET'
      ? this.#get(request.authorization)
      : this.#post(request.authorization, request.readBody);
  }

  /** POST /verify: the Bearer header if present, else the JSON body's `token`. */
  #post(
    authorization: string | null | undefined,
    readBody: BodyReader,
  ): VerifyAnswer | Promise<VerifyAnswer> {
    const bearer = bearerToken(authorization);
    if (bearer !== undefined) return then(this.#parts.verifier.verify(bearer), postAnswer);
    let body: string | undefined | Promise<string | undefined>;
    try {
      body = readBody(this.bodyLimit);
    } catch (error) {
      return tooLargeAnswer(error);
    }
    // A body in hand goes straight to the verdict; one still arriving, in one promise from the body to it.
    return body instanceof Promise
      ? body.then((text) => this.#postBody(text), tooLargeAnswer)
      : this.#postBody(body);
  }

  #postBody(text: string | undefined): VerifyAnswer | Promise<VerifyAnswer> {
    const token = tokenOfBody(text);
    return typeof token === 'string'
      ? then(this.#parts.verifier.verify(token), postAnswer)
      : postAnswer(token);
  }

  /** GET /verify, forward auth: 200 with X-Auth-Subject and X-Auth-Kid, or 401 with a Bearer challenge. */
  #get(authorization: string | null | undefined): VerifyAnswer | Promise<VerifyAnswer> {
    return then(this.#parts.verifier.verify(bearerToken(authorization) ?? ''), forwardAuthAnswer);
  }
}

/** A body over the limit is a token too large (401 token_malformed); any other failure to read is unexpected. */
function tooLargeAnswer(error: unknown): VerifyAnswer {
  if (error instanceof EdgeError && error.code === 'body_too_large') {
    return postAnswer({ valid: false, error: 'token_too_large' });
  }
  throw error;
}

/** The token a POST body names: '' for none, a verdict for a body that is no JSON object or no string token. */
function tokenOfBody(text: string | undefined): string | VerifyResult {
  if (text === undefined) return { valid: false, error: 'token_malformed' };
  if (text.trim() === '') return '';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { valid: false, error: 'token_malformed' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { valid: false, error: 'token_malformed' };
  }
  const token = (body as { token?: unknown }).token;
  if (token === undefined || token === null) return '';
  return typeof token === 'string' ? token : { valid: false, error: 'token_malformed' };
}

/** `next` of `value`, at once when `value` is no promise. */
function then<T, U>(value: T | Promise<T>, next: (settled: T) => U): U | Promise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

function postAnswer(result: VerifyResult | undefined): VerifyAnswer {
  if (result === undefined) return failure(KEYSET_UNAVAILABLE);
  if (!result.valid) return failure(verifyFailure(result.error));
  return verified(result.kid, result.claims, JSON_NO_STORE);
}

function forwardAuthAnswer(result: VerifyResult | undefined): VerifyAnswer {
  if (result === undefined) return failure(KEYSET_UNAVAILABLE);
  if (!result.valid) return failure(forwardAuthFailure(result.error));
  const sub = result.claims.sub;
  if (sub !== undefined && (typeof sub !== 'string' || !HEADER_SAFE.test(sub))) {
    // Fail closed: an upstream must never see "authenticated, subject unknown" for a token that has one.
    return failure(forwardAuthFailure('claim_invalid'));
  }
  const headers: Record<string, string> = { ...JSON_NO_STORE, 'x-auth-kid': result.kid };
  if (sub !== undefined) headers['x-auth-subject'] = sub;
  return verified(result.kid, result.claims, headers);
}

function verified(
  kid: string,
  claims: Record<string, unknown>,
  headers: Record<string, string>,
): VerifyAnswer {
  return { status: 200, headers, body: JSON.stringify({ valid: true, kid, claims }), outcome: 'valid' };
}

function failure(answer: ErrorAnswer<unknown>): VerifyAnswer {
  return {
    status: answer.status,
    headers: { ...JSON_NO_STORE, ...answer.headers },
    body: JSON.stringify(answer.body),
    outcome: (answer.body as { error?: unknown }).error as string,
  };
}
