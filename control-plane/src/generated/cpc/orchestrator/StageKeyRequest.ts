// Original file: proto/secret_service.proto


export interface StageKeyRequest__Input {
  'admin_token'?: (string);
  /**
   * HS256, ES256 or EdDSA.
   */
  'alg'?: (string);
  /**
   * HS256 only: the secret (empty: the server generates one). Asymmetric keys are always generated.
   */
  'new_secret'?: (string);
}

export interface StageKeyRequest {
  'admin_token': (string);
  /**
   * HS256, ES256 or EdDSA.
   */
  'alg': (string);
  /**
   * HS256 only: the secret (empty: the server generates one). Asymmetric keys are always generated.
   */
  'new_secret': (string);
}
