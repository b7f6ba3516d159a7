/** What gRPC tooling finds on the control plane's port: server reflection (v1 and v1alpha) and grpc.health.v1. */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  type ClientDuplexStream,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthStatus } from '../../test/support/grpc-health.ts';
import { type GrpcTarget, startGrpcTarget } from '../../test/support/grpc-target.ts';

const REFLECTION_PROTO = (version: 'v1' | 'v1alpha') =>
  fileURLToPath(
    new URL(
      `../../node_modules/@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`,
      import.meta.url,
    ),
  );
const DEADLINE_MS = 10_000;

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
}

describe('reflection and health on the gRPC port (Valkey storage)', () => {
  let target: GrpcTarget;

  beforeAll(async () => {
    target = await startGrpcTarget({
      adminToken: randomBytes(48).toString('base64url'),
      keysetKey: randomBytes(32).toString('base64url'),
      initialSecret: `grpc-test-${randomBytes(30).toString('base64')}`,
    });
  });

  afterAll(async () => {
    await target?.stop();
  });

  it('lists cpc.orchestrator.SecretService and grpc.health.v1.Health through server reflection v1 and v1alpha', async () => {
    for (const version of ['v1', 'v1alpha'] as const) {
      const definition = loadSync(REFLECTION_PROTO(version), {
        keepCase: true,
        longs: Number,
        defaults: true,
      });
      const reflection = ((loadPackageDefinition(definition).grpc as GrpcObject).reflection as GrpcObject)[
        version
      ] as GrpcObject;
      const Reflection = reflection.ServerReflection as ServiceClientConstructor;
      const reflectionClient = new Reflection(target.harness.grpcAddress, credentials.createInsecure());
      try {
        const names = await new Promise<string[]>((resolve, reject) => {
          type BidiMethod = (options: object) => ClientDuplexStream<object, ReflectionResponse>;
          const open = (reflectionClient as unknown as Record<string, BidiMethod>)
            .ServerReflectionInfo as BidiMethod;
          const call = open.call(reflectionClient, { deadline: Date.now() + DEADLINE_MS });
          call.on('data', (message: ReflectionResponse) => {
            resolve((message.list_services_response?.service ?? []).map((service) => service.name));
            call.end();
          });
          call.on('error', reject);
          call.write({ host: '', list_services: '' });
        });
        expect(names, version).toContain('cpc.orchestrator.SecretService');
        expect(names, version).toContain('grpc.health.v1.Health');
      } finally {
        reflectionClient.close();
      }
    }
  });

  it('answers grpc.health.v1 Check with SERVING', async () => {
    for (const service of ['', 'cpc.orchestrator.SecretService']) {
      expect(await healthStatus(target.harness.grpcAddress, service), service).toBe('SERVING');
    }
  });
});
