// Original file: proto/secret_service.proto


export interface RotateSecretRequest__Input {
  'admin_token'?: (string);
  'new_secret'?: (string);
  /**
   * With an empty new_secret: the server generates 48 random bytes (base64) itself.
   */
  'generate'?: (boolean);
  /**
   * Expire the superseded secret immediately instead of after the grace period.
   */
  'emergency'?: (boolean);
  /**
   * "" or HS256: a secret as above. ES256 or EdDSA: the server generates the key pair (new_secret must be empty).
   */
  'alg'?: (string);
}

export interface RotateSecretRequest {
  'admin_token': (string);
  'new_secret': (string);
  /**
   * With an empty new_secret: the server generates 48 random bytes (base64) itself.
   */
  'generate': (boolean);
  /**
   * Expire the superseded secret immediately instead of after the grace period.
   */
  'emergency': (boolean);
  /**
   * "" or HS256: a secret as above. ES256 or EdDSA: the server generates the key pair (new_secret must be empty).
   */
  'alg': (string);
}
