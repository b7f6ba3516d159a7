/**
 * SecretService requests written byte by byte in the protobuf wire format (field numbers from
 * proto/secret_service.proto) and sent as they are, so that the server's decoder sees exactly these bytes.
 */
import type { Client, Metadata } from '@grpc/grpc-js';
import { SecretServiceClient, type SecretServiceDefinition } from '../../control-plane/src/grpc/proto.ts';
import { unaryCall } from '../../control-plane/src/grpc/secret-service-client.ts';
import { utf8 } from '../../shared/base64url.ts';

export const WIRE = { varint: 0, i64: 1, len: 2, startGroup: 3, endGroup: 4, i32: 5 } as const;

export function varint(value: number | bigint): number[] {
  let rest = BigInt(value);
  const out: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return out;
}

export const tag = (field: number, wire: number) => varint(BigInt(field) * 8n + BigInt(wire));
const bytesOf = (content: string | Uint8Array | number[]) =>
  typeof content === 'string' ? [...utf8(content)] : [...content];
export const lenField = (field: number, content: string | Uint8Array | number[]) => {
  const bytes = bytesOf(content);
  return [...tag(field, WIRE.len), ...varint(bytes.length), ...bytes];
};
export const varintField = (field: number, value: number | bigint) => [
  ...tag(field, WIRE.varint),
  ...varint(value),
];
export const i64Field = (field: number) => [...tag(field, WIRE.i64), 1, 2, 3, 4, 5, 6, 7, 8];
export const i32Field = (field: number) => [...tag(field, WIRE.i32), 1, 2, 3, 4];
export const message = (...fields: number[][]) => Uint8Array.from(fields.flat());

/** The RPC names of SecretService (the definition's index signature left out). */
export type SecretServiceMethod = keyof {
  [Name in keyof SecretServiceDefinition as string extends Name ? never : Name]: true;
};

/** What `method` answers, as decoded. */
export type SecretServiceResponse<Method extends SecretServiceMethod> = ReturnType<
  SecretServiceDefinition[Method]['responseDeserialize']
>;

/** Calls `method` on `client` (any channel to the server) with `bytes` as the request message. */
export function sendRaw<Method extends SecretServiceMethod>(
  client: Client,
  method: Method,
  bytes: Uint8Array,
  options: { metadata?: Metadata; deadlineMs?: number } = {},
): Promise<SecretServiceResponse<Method>> {
  const definition = SecretServiceClient.service[method];
  return unaryCall(
    client,
    {
      path: definition.path,
      requestSerialize: (request: Buffer) => request,
      responseDeserialize: (response): SecretServiceResponse<Method> =>
        definition.responseDeserialize(response) as SecretServiceResponse<Method>,
    },
    Buffer.from(bytes),
    options,
  );
}
