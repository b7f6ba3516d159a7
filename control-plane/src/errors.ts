/** The control plane's domain errors; turned into gRPC statuses only in grpc/status-mapping.ts. */

export type ControlPlaneErrorCode =
  | 'permission_denied'
  | 'rate_limited'
  | 'invalid_argument'
  | 'storage_unavailable'
  | 'conflict'
  | 'not_found'
  | 'failed_precondition'
  | 'resource_exhausted';

export class ControlPlaneError extends Error {
  readonly code: ControlPlaneErrorCode;
  constructor(code: ControlPlaneErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'ControlPlaneError';
  }
}

export class StorageUnavailableError extends ControlPlaneError {
  constructor(message = 'Secret storage unavailable', options?: ErrorOptions) {
    super('storage_unavailable', message, options);
    this.name = 'StorageUnavailableError';
  }
}

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, expected: string) {
    super(`${variable}: ${expected}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}
