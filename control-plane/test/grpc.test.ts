/**
 * The control plane as deployed: startControlPlane with Valkey storage, a real gRPC client over loopback,
 * reflection, health, and the HTTP side. Every log line is captured and checked for leaks at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Client,
  type ClientDuplexStream,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { openKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';
import { connectAdmin, expectSame, readLayout } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { loadConfig } from '../src/config.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane.ts';
import type {
  GetKeysetResponse,
  RevokeKeyResponse,
  RotateSecretRequest,
  RotateSecretResponse,
} from '../src/grpc/proto.ts';
import { SecretServiceClient } from '../src/grpc/proto.ts';
import { createLogger } from '../src/logger.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const KEYSET_KEY_TEXT = randomBytes(32).toString('base64url');
const KEYSET_KEY = new Uint8Array(Buffer.from(KEYSET_KEY_TEXT, 'base64url'));
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

/** Every secret that ever existed in this file's control planes, for the leak checks. */
const secrets: string[] = [];
const newSecret = () => {
  const secret = `grpc-test-${randomBytes(30).toString('base64')}`;
  secrets.push(secret);
  return secret;
};
/** The secrets installed in the Valkey-backed control plane, in order. */
const installed: string[] = [];
const logLines: string[] = [];

type Outcome<T> = { error: ServiceError; response?: undefined } | { error?: undefined; response: T };

function unary<T>(client: Client, method: string, request: object, metadata = new Metadata()) {
  return new Promise<Outcome<T>>((resolve) => {
    type UnaryMethod = (
      req: object,
      md: Metadata,
      options: object,
      callback: (error: ServiceError | null, response: T) => void,
    ) => void;
    const call = (client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod;
    call.call(client, request, metadata, { deadline: Date.now() + DEADLINE_MS }, (error, response) =>
      resolve(error ? { error } : { response }),
    );
  });
}

function expectStatus(outcome: Outcome<unknown>, code: status, details?: string | RegExp) {
  expect(outcome.error, `expected status ${status[code]}`).toBeDefined();
  expect(status[outcome.error?.code as status]).toBe(status[code]);
  if (typeof details === 'string') expect(outcome.error?.details).toContain(details);
  else if (details) expect(outcome.error?.details).toMatch(details);
}

function expectNoLeak(text: string, what: string) {
  expect(text, `${what} contains the admin token`).not.toContain(ADMIN_TOKEN);
  for (const secret of secrets) {
    expect(text.includes(secret), `${what} contains a secret`).toBe(false);
    expect(text.includes(encodeBase64url(utf8(secret))), `${what} contains a secret (base64url)`).toBe(false);
  }
}

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.add('authorization', `Bearer ${token}`);
  return metadata;
}

async function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('control plane over gRPC and HTTP (Valkey storage)', () => {
  let valkey: ValkeyServer;
  let valkeyDir: string;
  let admin: Valkey;
  let controlPlane: ControlPlane;
  let client: Client;
  let http: string;

  const rotate = (request: Partial<RotateSecretRequest>, metadata?: Metadata) =>
    unary<RotateSecretResponse>(
      client,
      'RotateSecret',
      { admin_token: ADMIN_TOKEN, new_secret: '', ...request },
      metadata,
    );
  const getKeyset = () => unary<GetKeysetResponse>(client, 'GetKeyset', { admin_token: ADMIN_TOKEN });
  const revoke = (kid: string) =>
    unary<RevokeKeyResponse>(client, 'RevokeKey', { admin_token: ADMIN_TOKEN, kid });
  const keysetNow = async () => {
    const outcome = await getKeyset();
    if (outcome.error) throw outcome.error;
    return outcome.response;
  };

  beforeAll(async () => {
    valkeyDir = await mkdtemp(join(tmpdir(), 'keyward-grpc-valkey-'));
    valkey = await startValkey({ dir: valkeyDir, args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    admin = await connectAdmin(valkey.url);
    // The deployment guide's starting point: a secret already in jwt_secrets:active.
    installed.push(newSecret());
    await admin.set(VALKEY_KEYS.active, installed[0] as string);
    const config = loadConfig({
      ADMIN_TOKEN,
      VALKEY_URL: valkey.url,
      KEYSET_KEY: KEYSET_KEY_TEXT,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      ROTATION_INTERVAL: 'off',
    });
    const logger = createLogger('info', { write: (line: string) => void logLines.push(line) });
    controlPlane = await startControlPlane(config, logger);
    client = new SecretServiceClient(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    http = `http://127.0.0.1:${controlPlane.httpPort}`;
  });

  afterAll(async () => {
    client?.close();
    await controlPlane?.stop();
    admin?.disconnect();
    await valkey?.stop();
    await rm(valkeyDir, { recursive: true, force: true });
  });

  it('starts from jwt_secrets:active as version 1', async () => {
    const keyset = await keysetNow();
    expect(keyset.version).toBe(1);
    expect(keyset.keys).toHaveLength(1);
    expect(keyset.keys[0]).toMatchObject({ kid: await computeKid(installed[0] as string), status: 'active' });
  });

  it('rotates: OK, message and version, and logs "Rotating JWT secret" at info', async () => {
    const secret = newSecret();
    const before = (await keysetNow()).version;
    const { response, error } = await rotate({ new_secret: secret });
    expect(error).toBeUndefined();
    installed.push(secret);
    expect(response).toMatchObject({
      success: true,
      version: before + 1,
      kid: await computeKid(secret),
      edges: [],
    });
    expect(response?.message).toContain(`version ${before + 1}`);
    const logged = logLines
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'Rotating JWT secret');
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged.at(-1)).toMatchObject({ level: 30, version: before + 1, kid: await computeKid(secret) });
    expect(await admin.get(VALKEY_KEYS.active)).toBe(secret);
    const keyset = await keysetNow();
    expect(keyset.keys.map((k) => [k.kid, k.status])).toEqual([
      [await computeKid(secret), 'active'],
      [await computeKid(installed.at(-2) as string), 'previous'],
    ]);
  });

  it('takes the admin token from authorization: Bearer metadata', async () => {
    const secret = newSecret();
    const { response, error } = await rotate({ admin_token: '', new_secret: secret }, bearer(ADMIN_TOKEN));
    expect(error).toBeUndefined();
    installed.push(secret);
    expect(response?.kid).toBe(await computeKid(secret));
    const viaBearer = await unary<GetKeysetResponse>(
      client,
      'GetKeyset',
      { admin_token: '' },
      bearer(ADMIN_TOKEN),
    );
    expect(viaBearer.response?.keys[0]?.kid).toBe(await computeKid(secret));
  });

  it('answers PERMISSION_DENIED "Invalid admin token" for a wrong or missing token, changing nothing', async () => {
    const before = await keysetNow();
    const wrong = `${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('A') ? 'B' : 'A'}`;
    expectStatus(
      await rotate({ admin_token: wrong, new_secret: newSecret() }),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expectStatus(
      await rotate({ admin_token: '', new_secret: newSecret() }),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expectStatus(
      await unary(client, 'GetKeyset', { admin_token: '' }, bearer(wrong)),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expect(await keysetNow()).toEqual(before);
  });

  it('answers INVALID_ARGUMENT for weak, empty, reused or ambiguous secrets', async () => {
    const before = await keysetNow();
    expectStatus(await rotate({ new_secret: 'a'.repeat(31) }), status.INVALID_ARGUMENT, 'Secret too weak');
    expectStatus(await rotate({ new_secret: 'é'.repeat(15) }), status.INVALID_ARGUMENT, 'Secret too weak');
    expectStatus(await rotate({ new_secret: '' }), status.INVALID_ARGUMENT, 'Secret too weak');
    expectStatus(
      await rotate({ new_secret: installed.at(-1) as string }),
      status.INVALID_ARGUMENT,
      'already in the keyset',
    );
    expectStatus(
      await rotate({ new_secret: installed.at(-2) as string }),
      status.INVALID_ARGUMENT,
      'already in the keyset',
    );
    expectStatus(await rotate({ new_secret: newSecret(), generate: true }), status.INVALID_ARGUMENT);
    expect(await keysetNow()).toEqual(before);
  });

  it('generates the secret itself with generate=true', async () => {
    const before = await keysetNow();
    const { response, error } = await rotate({ generate: true });
    expect(error).toBeUndefined();
    expect(response?.success).toBe(true);
    expect(response?.version).toBe(before.version + 1);
    expect(before.keys.map((k) => k.kid)).not.toContain(response?.kid);
    const generated = (await admin.get(VALKEY_KEYS.active)) as string;
    secrets.push(generated);
    installed.push(generated);
    expect(utf8(generated).length).toBeGreaterThanOrEqual(32);
    expect(await computeKid(generated)).toBe(response?.kid);
    expect((await keysetNow()).keys[0]).toMatchObject({ kid: response?.kid, status: 'active' });
  });

  it('GetKeyset never returns secret material or the token', async () => {
    const outcome = await getKeyset();
    expect(outcome.response?.keys.length).toBeGreaterThanOrEqual(2);
    for (const key of outcome.response?.keys ?? []) {
      expect(Object.keys(key).sort()).toEqual([
        'created_at',
        'expires_at',
        'kid',
        'secret_version',
        'status',
      ]);
    }
    expectNoLeak(JSON.stringify(outcome.response), 'GetKeyset');
  });

  it('RevokeKey: NOT_FOUND, FAILED_PRECONDITION for the active key, OK for a previous one', async () => {
    const keyset = await keysetNow();
    const active = keyset.keys.find((k) => k.status === 'active');
    const previous = keyset.keys.find((k) => k.status === 'previous');
    expect(active && previous).toBeTruthy();
    expectStatus(await revoke('no-such-kid'), status.NOT_FOUND);
    expectStatus(await revoke(active?.kid as string), status.FAILED_PRECONDITION);
    expectStatus(await revoke(''), status.INVALID_ARGUMENT);
    expect(await keysetNow()).toEqual(keyset);
    const { response, error } = await revoke(previous?.kid as string);
    expect(error).toBeUndefined();
    expect(response).toMatchObject({ success: true, version: keyset.version + 1 });
    const after = await keysetNow();
    expect(after.keys.map((k) => k.kid)).not.toContain(previous?.kid);
    expect(after.keys.find((k) => k.status === 'active')?.kid).toBe(active?.kid);
  });

  it('emergency rotation: the superseded key is gone from GetKeyset at once', async () => {
    const before = await keysetNow();
    const superseded = before.keys.find((k) => k.status === 'active')?.kid;
    const secret = newSecret();
    const { response, error } = await rotate({ new_secret: secret, emergency: true });
    expect(error).toBeUndefined();
    expect(response?.success).toBe(true);
    const after = await keysetNow();
    expect(after.keys.map((k) => k.kid)).not.toContain(superseded);
    expect(after.keys.map((k) => [k.kid, k.status])).toEqual([[await computeKid(secret), 'active']]);
  });

  it('serves /healthz, /keyset with ETag and 304, and /metrics over HTTP', async () => {
    const keyset = await keysetNow();
    const health = await fetch(`${http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      storage: 'valkey',
      keyset_version: keyset.version,
      active_kid: keyset.keys[0]?.kid,
    });

    const envelope = await fetch(`${http}/keyset`);
    expect(envelope.status).toBe(200);
    const etag = envelope.headers.get('etag');
    expect(etag).toBe(`"v${keyset.version}"`);
    const body = await envelope.text();
    expect(body).toBe(await admin.get(VALKEY_KEYS.keyset));
    const opened = await openKeyset(body, KEYSET_KEY);
    expect(opened.version).toBe(keyset.version);
    expect(opened.keys.map((k) => k.kid)).toEqual(keyset.keys.map((k) => k.kid));

    const notModified = await fetch(`${http}/keyset`, { headers: { 'if-none-match': etag as string } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe('');
    const stale = await fetch(`${http}/keyset`, { headers: { 'if-none-match': '"v0"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();

    const metrics = await fetch(`${http}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain(`keyward_keyset_version ${keyset.version}`);
    expect(text).toMatch(/keyward_rotations_total\{kind="manual"\} \d+/);
    expect(text).toMatch(/keyward_rotations_total\{kind="emergency"\} 1/);
    expect(text).toMatch(/keyward_admin_calls_total\{rpc="RotateSecret",outcome="permission_denied"\} \d+/);
    expectNoLeak(text, '/metrics');
    expectNoLeak(JSON.stringify(await (await fetch(`${http}/healthz`)).json()), '/healthz');
  });

  it('lists cpc.orchestrator.SecretService through server reflection v1 and v1alpha', async () => {
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
      const reflectionClient = new Reflection(
        `127.0.0.1:${controlPlane.grpcPort}`,
        credentials.createInsecure(),
      );
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
      } finally {
        reflectionClient.close();
      }
    }
  });

  it('answers grpc.health.v1 Check with SERVING', async () => {
    const definition = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
    const Health = (
      ((loadPackageDefinition(definition).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject
    ).Health as ServiceClientConstructor;
    const health = new Health(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    try {
      for (const service of ['', 'cpc.orchestrator.SecretService']) {
        const outcome = await unary<{ status: string }>(health, 'Check', { service });
        expect(outcome.error).toBeUndefined();
        expect(outcome.response?.status).toBe('SERVING');
      }
    } finally {
      health.close();
    }
  });

  it('answers UNAVAILABLE while Valkey is down, leaves its state unchanged, and recovers', async () => {
    const keyset = await keysetNow();
    const before = await readLayout(admin);
    await valkey.stop();
    try {
      expectStatus(await rotate({ new_secret: newSecret() }), status.UNAVAILABLE);
      expectStatus(await rotate({ generate: true }), status.UNAVAILABLE);
      // Reads keep being served from the cache.
      expect(await keysetNow()).toEqual(keyset);
    } finally {
      await valkey.restart();
    }
    await eventually(
      () => admin.ping().catch(() => 'down'),
      (answer) => answer === 'PONG',
      10_000,
    );
    expectSame(await readLayout(admin), before, 'a refused write changes nothing in Valkey');
    // The control plane reconnects by itself.
    const secret = newSecret();
    const outcome = await eventually(
      () => rotate({ new_secret: secret }),
      (result) => result.error?.code !== status.UNAVAILABLE,
      10_000,
    );
    expect(outcome.response?.version).toBe(keyset.version + 1);
    expect(await admin.get(VALKEY_KEYS.active)).toBe(secret);
  });

  it('never logs the admin token or a secret', async () => {
    // Provoke the paths that log errors and warnings once more.
    await rotate({ admin_token: `${ADMIN_TOKEN}x`, new_secret: newSecret() });
    await rotate({ new_secret: 'short-but-secret' });
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.some((line) => line.includes('"access":true'))).toBe(true);
    expectNoLeak(logLines.join('\n'), 'the log');
    expect(logLines.join('\n')).not.toContain('short-but-secret');
  });
});

describe('failed-token brake', () => {
  it('answers RESOURCE_EXHAUSTED after repeated wrong tokens from one peer, even for the right token', async () => {
    const lines: string[] = [];
    const config = loadConfig({
      ADMIN_TOKEN,
      SECRET_STORAGE: 'env',
      JWT_SECRET: newSecret(),
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      ROTATION_INTERVAL: 'off',
    });
    const controlPlane = await startControlPlane(
      config,
      createLogger('info', { write: (line: string) => void lines.push(line) }),
    );
    const client = new SecretServiceClient(
      `127.0.0.1:${controlPlane.grpcPort}`,
      credentials.createInsecure(),
    );
    try {
      const wrong = { admin_token: 'w'.repeat(64) };
      const codes: status[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push((await unary(client, 'GetKeyset', wrong)).error?.code as status);
      }
      expect(codes.slice(0, 5)).toEqual(Array(5).fill(status.PERMISSION_DENIED));
      expect(codes[5]).toBe(status.RESOURCE_EXHAUSTED);
      const right = await unary(client, 'GetKeyset', { admin_token: ADMIN_TOKEN });
      expectStatus(right, status.RESOURCE_EXHAUSTED, /retry in \d+s/);
      const rightRotation = await unary(client, 'RotateSecret', {
        admin_token: ADMIN_TOKEN,
        new_secret: newSecret(),
      });
      expectStatus(rightRotation, status.RESOURCE_EXHAUSTED);
      // The lockout ends (1 s for the first one) and the right token works again.
      const unlocked = await eventually(
        () => unary<GetKeysetResponse>(client, 'GetKeyset', { admin_token: ADMIN_TOKEN }),
        (outcome) => outcome.error?.code !== status.RESOURCE_EXHAUSTED,
        5_000,
      );
      expect(unlocked.error).toBeUndefined();
      expect(unlocked.response?.version).toBe(1);
      expectNoLeak(lines.join('\n'), 'the log');
    } finally {
      client.close();
      await controlPlane.stop();
    }
  });
});
