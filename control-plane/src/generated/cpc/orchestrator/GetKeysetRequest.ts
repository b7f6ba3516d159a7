// Original file: proto/secret_service.proto


export interface GetKeysetRequest__Input {
  'admin_token'?: (string);
}

export interface GetKeysetRequest {
  'admin_token': (string);
}
