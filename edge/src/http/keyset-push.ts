/**
 * PUT /keyset (SPEC section 6), free of any HTTP framework: a body reader in, status, headers and JSON text out.
 * The Hono route and the Node entry's direct path both call it, so a push gets one answer whatever carries it.
 */
import { MAX_ENVELOPE_BYTES } from '../../../shared/keyset-envelope.ts';
import type { RevocationSet } from '../../../shared/revocations.ts';
import type { KeysetStore } from '../keyset/keyset-store.ts';
import type { KeysetSync } from '../keyset/keyset-sync.ts';
import { type ErrorAnswer, INTERNAL_ERROR, keysetFailure } from './error-answers.ts';
import { accessLine, type EdgeMetrics } from './metrics-answer.ts';

export interface KeysetPushRequest {
  /**
   * The body as UTF-8 text (undefined when it is not), read up to `maxBytes`; rejects with EdgeError
   * `body_too_large` beyond.
   */
  readBody: (maxBytes: number) => Promise<string | undefined>;
  /** Keeps the copy to KV alive past the answer (waitUntil on Workers). */
  background: (task: Promise<unknown>) => void;
  /**
   * The caller writes the answer first and logs `logLines` after it (the Node entry: a log write to a pipe is
   * a system call the pusher need not wait for). Otherwise the lines go to the log before the answer is returned.
   */
  logAfterAnswer?: boolean;
}

/** A push's answer, whatever was pushed. */
export interface PushAnswer {
  status: 200 | ErrorAnswer<unknown>['status'];
  /** Lower-case names, content-type included. */
  headers: Record<string, string>;
  /** The JSON text of the answer. */
  body: string;
  /** "taken", "held", or the error code the answer carries (for the access log). */
  outcome: string;
  /** With `logAfterAnswer`: the lines for the log, in order, once the answer is on its way. */
  logLines?: string[];
}

export type KeysetPushAnswer = PushAnswer;

export interface KeysetPushParts extends PushLog {
  store: KeysetStore;
  sync: KeysetSync;
  /** The held revocations: their serial rides along in every 200. */
  revocations: RevocationSet;
  metrics: EdgeMetrics;
  now: () => number;
}

const JSON_ONLY = { 'content-type': 'application/json' };
export const JSON_NO_STORE = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export class KeysetPushProtocol {
  readonly #parts: KeysetPushParts;

  constructor(parts: KeysetPushParts) {
    this.#parts = parts;
  }

  /** Answers one PUT /keyset; an unexpected error is logged (by name only) and answered 500, never thrown. */
  answer(request: KeysetPushRequest): Promise<KeysetPushAnswer> {
    return answerPush('/keyset', this.#parts, request, (log) => this.#answer(request, log));
  }

  async #answer(request: KeysetPushRequest, log: (line: string) => void): Promise<KeysetPushAnswer> {
    const { store, sync, metrics } = this.#parts;
    try {
      const envelope = await request.readBody(MAX_ENVELOPE_BYTES);
      if (envelope === undefined) {
        metrics.pushed('envelope_malformed');
        return {
          status: 400,
          headers: JSON_ONLY,
          body: JSON.stringify({ error: 'envelope_malformed' }),
          outcome: 'envelope_malformed',
        };
      }
      const { outcome, version } = await sync.push(envelope);
      metrics.pushed(outcome);
      if (outcome === 'taken') {
        log(`keyset: took version ${version} (push)`);
        request.background(sync.publish(envelope, version));
      }
      // With the held revocation serial: the control plane learns it from every keyset push.
      const body = {
        ...pushAnswer(store, version, this.#parts.now()),
        revocations: this.#parts.revocations.serial,
      };
      return { status: 200, headers: JSON_ONLY, body: JSON.stringify(body), outcome };
    } catch (error) {
      const answer = keysetFailure(error, store.version);
      if (answer === undefined) throw error;
      metrics.pushed(answer.body.error);
      return { ...failure(answer), outcome: answer.body.error };
    }
  }
}

/** What a push protocol (PUT /keyset, PUT /revocations) needs to log its answers. */
export interface PushLog {
  log: (message: string) => void;
  /** ACCESS_LOG: one line per request through `log`. */
  accessLog: boolean;
}

/**
 * Runs `answer` for one push to `path`: its log lines go to the log, or with `logAfterAnswer` into the answer's
 * `logLines`; an unexpected error is logged (by name only) and answered 500; then the access line, if logged.
 */
export async function answerPush(
  path: string,
  parts: PushLog,
  request: { logAfterAnswer?: boolean },
  answer: (log: (line: string) => void) => Promise<PushAnswer>,
): Promise<PushAnswer> {
  const startedAt = parts.accessLog ? performance.now() : 0;
  const lines: string[] = [];
  const log = request.logAfterAnswer ? (line: string) => lines.push(line) : parts.log;
  let answered: PushAnswer;
  try {
    answered = await answer(log);
  } catch (error) {
    log(`edge: unexpected error: ${error instanceof Error ? error.name : typeof error}`);
    answered = { ...failure(INTERNAL_ERROR), outcome: 'internal_error' };
  }
  if (parts.accessLog) {
    const durationMs = performance.now() - startedAt;
    log(accessLine('PUT', path, answered.status, answered.outcome, durationMs));
  }
  return request.logAfterAnswer ? { ...answered, logLines: lines } : answered;
}

/** An error answer as JSON, not to be stored. */
export function failure<B>(answer: ErrorAnswer<B>): Omit<PushAnswer, 'outcome'> {
  return {
    status: answer.status,
    headers: { ...JSON_NO_STORE, ...answer.headers },
    body: JSON.stringify(answer.body),
  };
}

/**
 * PUT /keyset's 200 answer: the version (SPEC section 6), the kids of the keyset now held and the edge's clock
 * (epoch ms), from which the control plane keeps its inventory of what each edge holds and how far its clock
 * is off. `kids` is left out when another push replaced the keyset meanwhile: they would belong to another version.
 */
function pushAnswer(
  store: KeysetStore,
  version: number,
  time: number,
): { version: number; kids?: string[]; time: number } {
  const ring = store.ring;
  if (ring === undefined || ring.version !== version) return { version, time };
  return { version, kids: ring.keyset.keys.map((key) => key.kid), time };
}
