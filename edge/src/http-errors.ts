/** Every error-to-HTTP mapping of the edge (SPEC section 6), in one place. */
import { KeywardError } from '../../shared/errors.ts';
import type { VerifyErrorCode } from '../../shared/verify-token.ts';
import { EdgeError } from './errors.ts';

/** The error codes SPEC section 6 lets a client see on /verify. */
export type VerifyAnswerCode = Exclude<VerifyErrorCode, 'token_too_large'>;

export interface ErrorAnswer<B> {
  status: 400 | 401 | 409 | 413 | 500 | 503;
  body: B;
  headers?: Record<string, string>;
}

export type VerifyFailureBody = { valid: false; error: VerifyAnswerCode | 'keyset_unavailable' };

export const KEYSET_UNAVAILABLE: ErrorAnswer<VerifyFailureBody> = {
  status: 503,
  body: { valid: false, error: 'keyset_unavailable' },
};

/** POST /verify: 401 with the code; an oversized token is 413 with SPEC's `token_malformed`. */
export function verifyFailure(code: VerifyErrorCode): ErrorAnswer<VerifyFailureBody> {
  if (code === 'token_too_large') return { status: 413, body: { valid: false, error: 'token_malformed' } };
  return { status: 401, body: { valid: false, error: code } };
}

/**
 * GET /verify (forward auth): always 401, since proxies treat any other status as a server error. RFC 6750
 * section 3.1: a request without a token gets a challenge without an error code.
 */
export function forwardAuthFailure(code: VerifyErrorCode): ErrorAnswer<VerifyFailureBody> {
  const error: VerifyAnswerCode = code === 'token_too_large' ? 'token_malformed' : code;
  const challenge = code === 'token_missing' ? 'Bearer realm="keyward"' : 'Bearer error="invalid_token"';
  return { status: 401, body: { valid: false, error }, headers: { 'www-authenticate': challenge } };
}

export type KeysetFailureBody = { error: string; version?: number };

/** PUT /keyset: undefined for errors that are not the pusher's fault (they become a generic 500). */
export function keysetFailure(
  error: unknown,
  heldVersion: number,
): ErrorAnswer<KeysetFailureBody> | undefined {
  if (error instanceof EdgeError) {
    if (error.code === 'keyset_conflict') {
      return { status: 409, body: { error: 'keyset_conflict', version: heldVersion } };
    }
    if (error.code === 'body_too_large') return { status: 413, body: { error: 'envelope_too_large' } };
    return undefined;
  }
  if (error instanceof KeywardError) {
    switch (error.code) {
      case 'envelope_undecryptable':
        return { status: 401, body: { error: 'envelope_undecryptable' } };
      case 'envelope_malformed':
      case 'keyset_invalid':
        return { status: 400, body: { error: error.code } };
      default:
        return undefined;
    }
  }
  return undefined;
}

export const INTERNAL_ERROR: ErrorAnswer<{ error: string }> = {
  status: 500,
  body: { error: 'internal_error' },
};
export const CONFIG_INVALID: ErrorAnswer<{ error: string }> = {
  status: 500,
  body: { error: 'config_invalid' },
};
