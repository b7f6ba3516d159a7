// Original file: proto/secret_service.proto


export interface RevokeTokensRequest__Input {
  'admin_token'?: (string);
  /**
   * Each 1 to 256 characters; at most 10,000 per call.
   */
  'jtis'?: (string)[];
  /**
   * Non-empty: every token with this sub whose iat is earlier than the call (or that has no iat).
   */
  'subject'?: (string);
}

export interface RevokeTokensRequest {
  'admin_token': (string);
  /**
   * Each 1 to 256 characters; at most 10,000 per call.
   */
  'jtis': (string)[];
  /**
   * Non-empty: every token with this sub whose iat is earlier than the call (or that has no iat).
   */
  'subject': (string);
}
