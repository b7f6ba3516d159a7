/** The one place where domain errors become gRPC statuses. Unknown errors become a generic INTERNAL. */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { KeywardError, type KeywardErrorCode } from '../../../shared/errors.ts';
import { INVALID_ADMIN_TOKEN } from '../admin-auth.ts';
import { ControlPlaneError, type ControlPlaneErrorCode } from '../errors.ts';

const STATUS: Record<ControlPlaneErrorCode, status> = {
  permission_denied: status.PERMISSION_DENIED,
  rate_limited: status.PERMISSION_DENIED,
  invalid_argument: status.INVALID_ARGUMENT,
  storage_unavailable: status.UNAVAILABLE,
  conflict: status.ABORTED,
  not_found: status.NOT_FOUND,
  failed_precondition: status.FAILED_PRECONDITION,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
};

/**
 * Codes whose details are fixed whatever the error says. SPEC section 2: a wrong or missing admin token is
 * PERMISSION_DENIED "Invalid admin token", from a peer the brake has locked out too; the lockout shows as the
 * `rate_limited` outcome in the access log and keyward_admin_calls_total, never to the caller.
 */
const DETAILS: Partial<Record<ControlPlaneErrorCode, string>> = { rate_limited: INVALID_ADMIN_TOKEN };

/**
 * The keyset model's errors a caller can cause, by the outcome they answer as. Any other KeywardError (a keyset
 * that does not parse, an envelope that does not open) is ours, not the caller's: INTERNAL.
 */
const KEYWARD_OUTCOME: Partial<Record<KeywardErrorCode, ControlPlaneErrorCode>> = {
  secret_too_weak: 'invalid_argument',
  secret_reused: 'invalid_argument',
  algorithm_unknown: 'invalid_argument',
  secret_not_allowed: 'invalid_argument',
  key_not_found: 'not_found',
  key_not_standby: 'not_found',
  key_is_active: 'failed_precondition',
  standby_exists: 'failed_precondition',
  keyset_too_large: 'failed_precondition',
  envelope_key_missing: 'failed_precondition',
  revocation_invalid: 'invalid_argument',
  revocations_too_large: 'resource_exhausted',
};

export interface MappedError {
  error: Partial<ServiceError>;
  /** A short word for the access log. */
  outcome: string;
  /** True when the error was not one of ours: the caller logs it. */
  unexpected: boolean;
}

export function toGrpcError(error: unknown): MappedError {
  const outcome =
    error instanceof ControlPlaneError
      ? error.code
      : error instanceof KeywardError
        ? KEYWARD_OUTCOME[error.code]
        : undefined;
  if (outcome === undefined) {
    return { error: grpcError(status.INTERNAL, 'Internal error'), outcome: 'internal', unexpected: true };
  }
  const details = DETAILS[outcome] ?? (error as Error).message;
  return { error: grpcError(STATUS[outcome], details), outcome, unexpected: false };
}

function grpcError(code: status, details: string): Partial<ServiceError> {
  return { code, details, message: details, metadata: new Metadata() };
}
