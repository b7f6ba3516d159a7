/**
 * What the gRPC suites call: a valkey-server seeded with a secret in jwt_secrets:active (the deployment
 * guide's starting point), the real control plane on loopback over it (test/support/control-plane-harness.ts),
 * a typed SecretService client and a raw channel for hand-encoded requests.
 */
import { Client, credentials } from '@grpc/grpc-js';
import type { Valkey } from 'iovalkey';
import {
  connectSecretService,
  type SecretServiceConnection,
} from '../../control-plane/src/grpc/secret-service-client.ts';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { type Harness, startHarness } from './control-plane-harness.ts';
import { connectAdmin } from './valkey-layout.ts';
import { type StartValkeyOptions, startValkey, type ValkeyServer } from './valkey-server.ts';

export interface GrpcTarget {
  valkey: ValkeyServer;
  /** A Valkey client of its own, for reading and seeding the jwt_secrets:* keys. */
  admin: Valkey;
  harness: Harness;
  client: SecretServiceConnection;
  /** A channel with no service attached, for `sendRaw` (test/support/hand-encoded-requests.ts). */
  raw: Client;
  /** `http://127.0.0.1:<port>` of the control plane's HTTP side. */
  http: string;
  stop(): Promise<void>;
}

export interface GrpcTargetOptions {
  adminToken: string;
  /** KEYSET_KEY, base64url text. */
  keysetKey: string;
  /** Written to jwt_secrets:active before the control plane starts: it becomes version 1. */
  initialSecret: string;
  valkey?: StartValkeyOptions;
}

export async function startGrpcTarget(options: GrpcTargetOptions): Promise<GrpcTarget> {
  const valkey = await startValkey(options.valkey);
  const admin = await connectAdmin(valkey.url);
  await admin.set(VALKEY_KEYS.active, options.initialSecret);
  const harness = await startHarness({
    valkeyUrl: valkey.url,
    keysetKey: options.keysetKey,
    adminToken: options.adminToken,
  });
  const client = connectSecretService(harness.grpcAddress, credentials.createInsecure());
  const raw = new Client(harness.grpcAddress, credentials.createInsecure());
  return {
    valkey,
    admin,
    harness,
    client,
    raw,
    http: harness.httpUrl,
    async stop() {
      client.close();
      raw.close();
      await harness.stop();
      admin.disconnect();
      await valkey.stop();
    },
  };
}
