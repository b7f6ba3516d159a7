/** Errors of the keyset model and the verification path, shared by the control plane and the edge. */

export type KeywardErrorCode =
  | 'invalid_duration'
  | 'secret_too_weak'
  | 'secret_reused'
  | 'key_not_found'
  | 'key_is_active'
  | 'key_not_standby'
  | 'standby_exists'
  | 'algorithm_unknown'
  | 'secret_not_allowed'
  | 'keyset_invalid'
  | 'keyset_too_large'
  | 'envelope_malformed'
  | 'envelope_undecryptable'
  | 'envelope_key_invalid'
  | 'envelope_key_missing'
  | 'envelope_signature_invalid'
  | 'envelope_unencrypted'
  | 'signing_key_invalid'
  | 'revocation_invalid'
  | 'revocations_invalid'
  | 'revocations_too_large';

export class KeywardError extends Error {
  readonly code: KeywardErrorCode;
  constructor(code: KeywardErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'KeywardError';
  }
}
