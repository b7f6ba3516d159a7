/**
 * PUT /revocations (SPEC section 8), free of any HTTP framework: a body reader in, status, headers and JSON text
 * out. The Hono route and the Node entry's direct path both call it, so a push gets one answer whatever carries
 * it. The route takes no credential: a list counts only signed by KEYSET_VERIFY_KEY, as a revocation list.
 */
import { MAX_REVOCATIONS_BYTES } from '../../../shared/revocations.ts';
import type { RevocationSync } from '../revocation/revocation-sync.ts';
import { revocationsFailure } from './error-answers.ts';
import { answerPush, failure, JSON_NO_STORE, type PushAnswer, type PushLog } from './keyset-push.ts';
import type { EdgeMetrics } from './metrics-answer.ts';

export interface RevocationsPushRequest {
  /**
   * The body as UTF-8 text (undefined when it is not), read up to `maxBytes`; rejects with EdgeError
   * `body_too_large` beyond.
   */
  readBody: (maxBytes: number) => Promise<string | undefined>;
  /** As KeysetPushRequest.logAfterAnswer: the caller logs the answer's `logLines` once it is written. */
  logAfterAnswer?: boolean;
}

export interface RevocationsPushParts extends PushLog {
  revocationSync: RevocationSync;
  metrics: EdgeMetrics;
}

export class RevocationsPushProtocol {
  readonly #parts: RevocationsPushParts;

  constructor(parts: RevocationsPushParts) {
    this.#parts = parts;
  }

  /** Answers one PUT /revocations; an unexpected error is logged (by name only) and answered 500, never thrown. */
  answer(request: RevocationsPushRequest): Promise<PushAnswer> {
    return answerPush('/revocations', this.#parts, request, (log) => this.#answer(request, log));
  }

  // A delta from the held serial, or a snapshot (from 0).
  async #answer(request: RevocationsPushRequest, log: (line: string) => void): Promise<PushAnswer> {
    const { revocationSync, metrics } = this.#parts;
    try {
      const jws = await request.readBody(MAX_REVOCATIONS_BYTES);
      if (jws === undefined) {
        metrics.revocationsPushed('envelope_malformed');
        return {
          status: 400,
          headers: JSON_NO_STORE,
          body: JSON.stringify({ error: 'envelope_malformed' }),
          outcome: 'envelope_malformed',
        };
      }
      const { outcome, serial } = await revocationSync.push(jws);
      metrics.revocationsPushed(outcome);
      if (outcome === 'taken') log(`revocations: took serial ${serial} (push)`);
      return { status: 200, headers: JSON_NO_STORE, body: JSON.stringify({ serial }), outcome };
    } catch (error) {
      const answer = revocationsFailure(error);
      if (answer === undefined) throw error;
      metrics.revocationsPushed(answer.body.error);
      return { ...failure(answer), outcome: answer.body.error };
    }
  }
}
