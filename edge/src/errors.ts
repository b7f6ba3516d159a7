/** Errors of the edge worker; turned into HTTP answers only in http-errors.ts. */

export type EdgeErrorCode = 'config_invalid' | 'keyset_conflict' | 'body_too_large' | 'pull_failed';

export class EdgeError extends Error {
  readonly code: EdgeErrorCode;
  constructor(code: EdgeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'EdgeError';
  }
}
