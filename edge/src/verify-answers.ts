/**
 * The answers of /verify (SPEC section 6), free of any HTTP framework: the Hono app sends them, and so does
 * the Node entry's direct path, so both speak exactly the same protocol.
 */
import type { VerifyResult } from '../../shared/verify-token.ts';
import { bearerToken } from './bearer-token.ts';
import { EdgeError } from './errors.ts';
import {
  type ErrorAnswer,
  forwardAuthFailure,
  KEYSET_UNAVAILABLE,
  type VerifyFailureBody,
  verifyFailure,
} from './http-errors.ts';
import type { TokenVerifier } from './token-verifier.ts';

export interface VerifyAnswer {
  status: 200 | ErrorAnswer<unknown>['status'];
  body: VerifiedBody | VerifyFailureBody;
  headers: Record<string, string>;
}

export interface VerifiedBody {
  valid: true;
  kid: string;
  claims: Record<string, unknown>;
}

/** Reads the request body as UTF-8 (undefined when it is not); throws EdgeError `body_too_large`. */
export type BodyReader = (maxBytes: number) => Promise<string | undefined>;

// Room for `{"token": ...}` around the largest token we accept.
const VERIFY_BODY_OVERHEAD = 1024;
// Printable ASCII with no space at either end: anything else cannot travel in an HTTP header unchanged (a
// parser trims the ends as optional whitespace, so " admin" would arrive as "admin").
const HEADER_SAFE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;
const NO_STORE = { 'cache-control': 'no-store' };

export class VerifyAnswers {
  readonly #verifier: TokenVerifier;
  readonly #maxTokenBytes: number;

  constructor(verifier: TokenVerifier, maxTokenBytes: number) {
    this.#verifier = verifier;
    this.#maxTokenBytes = maxTokenBytes;
  }

  /** POST /verify: the Bearer header if present, else the JSON body's `token`. */
  async post(authorization: string | null | undefined, readBody: BodyReader): Promise<VerifyAnswer> {
    const token = bearerToken(authorization) ?? (await this.#tokenFromBody(readBody));
    const result = typeof token === 'string' ? await this.#verifier.verify(token) : token;
    if (result === undefined) return failure(KEYSET_UNAVAILABLE);
    if (!result.valid) return failure(verifyFailure(result.error));
    return { status: 200, body: { valid: true, kid: result.kid, claims: result.claims }, headers: NO_STORE };
  }

  /** GET /verify, forward auth: 200 with X-Auth-Subject and X-Auth-Kid, or 401 with a Bearer challenge. */
  async get(authorization: string | null | undefined): Promise<VerifyAnswer> {
    const result = await this.#verifier.verify(bearerToken(authorization) ?? '');
    if (result === undefined) return failure(KEYSET_UNAVAILABLE);
    if (!result.valid) return failure(forwardAuthFailure(result.error));
    const sub = result.claims.sub;
    if (sub !== undefined && (typeof sub !== 'string' || !HEADER_SAFE.test(sub))) {
      // Fail closed: an upstream must never see "authenticated, subject unknown" for a token that has one.
      return failure(forwardAuthFailure('claim_invalid'));
    }
    const headers: Record<string, string> = { ...NO_STORE, 'x-auth-kid': result.kid };
    if (sub !== undefined) headers['x-auth-subject'] = sub;
    return { status: 200, body: { valid: true, kid: result.kid, claims: result.claims }, headers };
  }

  async #tokenFromBody(readBody: BodyReader): Promise<string | VerifyResult> {
    let text: string | undefined;
    try {
      text = await readBody(this.#maxTokenBytes + VERIFY_BODY_OVERHEAD);
    } catch (error) {
      if (error instanceof EdgeError && error.code === 'body_too_large') {
        return { valid: false, error: 'token_too_large' };
      }
      throw error;
    }
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
}

function failure(answer: ErrorAnswer<VerifyFailureBody>): VerifyAnswer {
  return { status: answer.status, body: answer.body, headers: { ...NO_STORE, ...answer.headers } };
}
