/** The one place where domain errors become gRPC statuses. Unknown errors become a generic INTERNAL. */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { KeywardError } from '../../../shared/errors.ts';
import { ControlPlaneError, type ControlPlaneErrorCode } from '../errors.ts';

const STATUS: Record<ControlPlaneErrorCode, status> = {
  permission_denied: status.PERMISSION_DENIED,
  rate_limited: status.RESOURCE_EXHAUSTED,
  invalid_argument: status.INVALID_ARGUMENT,
  storage_unavailable: status.UNAVAILABLE,
  conflict: status.ABORTED,
  not_found: status.NOT_FOUND,
  failed_precondition: status.FAILED_PRECONDITION,
};

export interface MappedError {
  error: Partial<ServiceError>;
  /** A short word for the access log. */
  outcome: string;
  /** True when the error was not one of ours: the caller logs it. */
  unexpected: boolean;
}

export function toGrpcError(error: unknown): MappedError {
  if (error instanceof ControlPlaneError) {
    return { error: grpcError(STATUS[error.code], error.message), outcome: error.code, unexpected: false };
  }
  if (error instanceof KeywardError && (error.code === 'secret_too_weak' || error.code === 'secret_reused')) {
    return {
      error: grpcError(status.INVALID_ARGUMENT, error.message),
      outcome: 'invalid_argument',
      unexpected: false,
    };
  }
  if (error instanceof KeywardError && error.code === 'keyset_too_large') {
    return {
      error: grpcError(status.FAILED_PRECONDITION, error.message),
      outcome: 'failed_precondition',
      unexpected: false,
    };
  }
  return { error: grpcError(status.INTERNAL, 'Internal error'), outcome: 'internal', unexpected: true };
}

function grpcError(code: status, details: string): Partial<ServiceError> {
  return { code, details, message: details, metadata: new Metadata() };
}
