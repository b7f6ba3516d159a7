/** grpc.health.v1 Check against a server, through the health proto that grpc-health-check ships. */
import {
  type ChannelCredentials,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { unaryCall } from '../../control-plane/src/grpc/secret-service-client.ts';

const definition = loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
const Health = (
  ((loadPackageDefinition(definition).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject
).Health as ServiceClientConstructor;

/** The serving status `address` reports for `service` ('' for the server as a whole), e.g. 'SERVING'. */
export async function healthStatus(
  address: string,
  service: string,
  channelCredentials: ChannelCredentials = credentials.createInsecure(),
): Promise<string> {
  const client = new Health(address, channelCredentials);
  try {
    const response = await unaryCall<{ service: string }, { status: string }>(
      client,
      Health.service.Check as NonNullable<(typeof Health.service)['Check']>,
      { service },
      { deadlineMs: 10_000 },
    );
    return response.status;
  } finally {
    client.close();
  }
}
