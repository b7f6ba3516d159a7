/** grpc.health.v1 Watch against a server: every status the stream delivers, in order. */
import {
  type ClientReadableStream,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const definition = loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
const Health = (
  ((loadPackageDefinition(definition).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject
).Health as ServiceClientConstructor;

export interface HealthWatch {
  /** The statuses received so far, e.g. ['SERVING', 'NOT_SERVING']. */
  statuses: string[];
  /** Ends the stream and closes the channel. */
  close(): void;
}

/** Opens a Watch stream on `address` for `service` ('' for the server as a whole). */
export function watchHealth(address: string, service: string): HealthWatch {
  const client = new Health(address, credentials.createInsecure());
  const statuses: string[] = [];
  const stream = (
    client as unknown as { Watch(request: { service: string }): ClientReadableStream<{ status: string }> }
  ).Watch({ service });
  stream.on('data', (message: { status: string }) => statuses.push(message.status));
  // Cancelling the stream on close ends it with CANCELLED; nothing else is expected.
  stream.on('error', () => {});
  return {
    statuses,
    close() {
      stream.cancel();
      client.close();
    },
  };
}
