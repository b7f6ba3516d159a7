// Original file: proto/secret_service.proto


export interface RevokeKeyRequest__Input {
  'admin_token'?: (string);
  'kid'?: (string);
}

export interface RevokeKeyRequest {
  'admin_token': (string);
  'kid': (string);
}
