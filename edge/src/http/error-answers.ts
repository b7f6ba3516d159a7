/** Every error-to-HTTP mapping of the edge (SPEC section 6), in one place. */
import { KeywardError } from '../../../shared/errors.ts';
import { RevocationMismatchError } from '../../../shared/revocations.ts';
import type { VerifyErrorCode } from '../../../shared/verify-token.ts';
import { EdgeError } from '../errors.ts';

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

/** SPEC section 6 has no code of its own for an oversized token (or body): it is malformed. */
function answerCode(code: VerifyErrorCode): VerifyAnswerCode {
  return code === 'token_too_large' ? 'token_malformed' : code;
}

/** POST /verify: 401 with the code (SPEC section 6 answers only 200, 401 and 503 there). */
export function verifyFailure(code: VerifyErrorCode): ErrorAnswer<VerifyFailureBody> {
  return { status: 401, body: { valid: false, error: answerCode(code) } };
}

/**
 * GET /verify (forward auth): 401 with SPEC's challenge, `Bearer error="invalid_token"`, for every failure of
 * the token (a missing one included, where RFC 6750 would leave the error out: scripts match SPEC's header).
 */
export function forwardAuthFailure(code: VerifyErrorCode): ErrorAnswer<VerifyFailureBody> {
  return {
    status: 401,
    body: { valid: false, error: answerCode(code) },
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  };
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
      case 'envelope_signature_invalid':
        return { status: 401, body: { error: error.code } };
      case 'envelope_malformed':
      case 'envelope_unencrypted':
      case 'keyset_invalid':
        return { status: 400, body: { error: error.code } };
      default:
        return undefined;
    }
  }
  return undefined;
}

export type RevocationsFailureBody = { error: string; serial?: number };

/**
 * PUT /revocations: 409 with the held serial for a list that does not follow it (the control plane then sends a
 * delta from that serial, or a snapshot above it); undefined for errors that are not the pusher's fault.
 */
export function revocationsFailure(error: unknown): ErrorAnswer<RevocationsFailureBody> | undefined {
  if (error instanceof RevocationMismatchError) {
    return { status: 409, body: { error: error.code, serial: error.serial } };
  }
  if (error instanceof EdgeError) {
    if (error.code === 'body_too_large') return { status: 413, body: { error: 'revocations_too_large' } };
    return undefined;
  }
  if (error instanceof KeywardError) {
    switch (error.code) {
      case 'revocations_too_large':
        return { status: 413, body: { error: error.code } };
      case 'envelope_signature_invalid':
        return { status: 401, body: { error: error.code } };
      case 'envelope_malformed':
      case 'revocations_invalid':
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
