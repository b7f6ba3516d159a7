// Original file: proto/secret_service.proto


export interface PromoteKeyRequest__Input {
  'admin_token'?: (string);
  /**
   * The standby key's kid.
   */
  'kid'?: (string);
  /**
   * Promote even though some edges have not confirmed a keyset holding the key.
   */
  'force'?: (boolean);
  /**
   * Every earlier key stops verifying at once instead of after the grace period.
   */
  'emergency'?: (boolean);
}

export interface PromoteKeyRequest {
  'admin_token': (string);
  /**
   * The standby key's kid.
   */
  'kid': (string);
  /**
   * Promote even though some edges have not confirmed a keyset holding the key.
   */
  'force': (boolean);
  /**
   * Every earlier key stops verifying at once instead of after the grace period.
   */
  'emergency': (boolean);
}
