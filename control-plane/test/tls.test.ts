import { createHash, randomBytes } from 'node:crypto';
import { credentials, status } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { settle } from '../../test/support/grpc-outcome.ts';
import { runMainUntilExit } from '../../test/support/run-main.ts';
import { createTestPki, type TestPki } from '../../test/support/self-signed.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { loadConfig } from '../src/config.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane.ts';
import { connectSecretService } from '../src/grpc/secret-service-client.ts';
import { createLogger } from '../src/logger.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const KEYSET_KEY = randomBytes(32).toString('base64url');
const KEYSET_SIGNING_KEY = randomBytes(32).toString('base64url');
const VALKEY_PASSWORD = randomBytes(18).toString('base64url');
const DEADLINE_MS = 10_000;
const secrets: string[] = [];
const newSecret = () => {
  const secret = `tls-test-${randomBytes(30).toString('base64')}`;
  secrets.push(secret);
  return secret;
};

/** Stands for state that holds secrets, so that a failed comparison prints a digest, not the secrets. */
const fingerprint = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/** Booleans only, so that a failure does not print what it found. */
function expectNoSecrets(text: string) {
  expect(text.includes(ADMIN_TOKEN), 'holds the admin token').toBe(false);
  expect(text.includes(VALKEY_PASSWORD), 'holds the Valkey password').toBe(false);
  expect(text.includes(KEYSET_KEY), 'holds KEYSET_KEY').toBe(false);
  expect(text.includes(KEYSET_SIGNING_KEY), 'holds KEYSET_SIGNING_KEY').toBe(false);
  for (const secret of secrets) expect(text.includes(secret), 'holds a secret').toBe(false);
}

const baseEnv = (grpcPort = '0') => ({
  ADMIN_TOKEN,
  GRPC_PORT: grpcPort,
  HTTP_PORT: '0',
  HOST: '127.0.0.1',
  ROTATION_INTERVAL: 'off',
});

let pki: TestPki;
let otherPki: TestPki;

beforeAll(async () => {
  [pki, otherPki] = await Promise.all([createTestPki('keyward'), createTestPki('stranger')]);
});

afterAll(async () => {
  await pki?.remove();
  await otherPki?.remove();
});

describe('gRPC over TLS (GRPC_TLS_CERT and GRPC_TLS_KEY are paths of PEM files)', () => {
  let controlPlane: ControlPlane;
  let address: string;

  beforeAll(async () => {
    const config = loadConfig({
      ...baseEnv(),
      SECRET_STORAGE: 'env',
      JWT_SECRET: newSecret(),
      GRPC_TLS_CERT: pki.certPath,
      GRPC_TLS_KEY: pki.keyPath,
    });
    controlPlane = await startControlPlane(config, createLogger('silent'));
    address = `127.0.0.1:${controlPlane.grpcPort}`;
  });

  afterAll(async () => {
    await controlPlane?.stop();
  });

  it('a client trusting the CA rotates, by IP address and by host name', async () => {
    for (const target of [address, `localhost:${controlPlane.grpcPort}`]) {
      const client = connectSecretService(target, credentials.createSsl(Buffer.from(pki.caPem)));
      try {
        const before = (await controlPlane.manager.keyset()).keyset.version;
        const secret = newSecret();
        const { response, error } = await settle(
          client.rotateSecret({ admin_token: ADMIN_TOKEN, new_secret: secret }, { deadlineMs: DEADLINE_MS }),
        );
        expect(error?.details, target).toBeUndefined();
        expect(response).toMatchObject({ success: true, version: before + 1, kid: await computeKid(secret) });
      } finally {
        client.close();
      }
    }
  });

  it('a plaintext client and a client trusting another CA are refused, and nothing changes', async () => {
    const before = fingerprint(await controlPlane.manager.keyset());
    const plaintext = connectSecretService(address, credentials.createInsecure());
    const stranger = connectSecretService(address, credentials.createSsl(Buffer.from(otherPki.caPem)));
    try {
      for (const client of [plaintext, stranger]) {
        const rotation = await settle(
          client.rotateSecret(
            { admin_token: ADMIN_TOKEN, new_secret: newSecret() },
            { deadlineMs: DEADLINE_MS },
          ),
        );
        expect(rotation.error?.code).toBe(status.UNAVAILABLE);
        expectNoSecrets(rotation.error?.details ?? '');
        const read = await settle(
          client.getKeyset({ admin_token: ADMIN_TOKEN }, { deadlineMs: DEADLINE_MS }),
        );
        expect(read.error?.code).toBe(status.UNAVAILABLE);
      }
    } finally {
      plaintext.close();
      stranger.close();
    }
    expect(fingerprint(await controlPlane.manager.keyset())).toBe(before);
  });
});

describe('Valkey over rediss:// (VALKEY_TLS_CA is the path of a PEM file)', () => {
  let valkey: ValkeyServer;
  let admin: Valkey;
  let initial: string;

  beforeAll(async () => {
    valkey = await startValkey({ tls: pki });
    expect(valkey.url).toMatch(/^rediss:\/\//);
    admin = new Valkey(valkey.url, { lazyConnect: true, tls: { ca: pki.caPem } });
    admin.on('error', () => {});
    await admin.connect();
    initial = newSecret();
    await admin.set(VALKEY_KEYS.active, initial);
  });

  afterAll(async () => {
    admin?.disconnect();
    await valkey?.stop();
  });

  it('the control plane trusting VALKEY_TLS_CA starts, rotates and stores over TLS (gRPC over TLS too)', async () => {
    const controlPlane = await startControlPlane(
      loadConfig({
        ...baseEnv(),
        VALKEY_URL: valkey.url,
        VALKEY_TLS_CA: pki.caCertPath,
        KEYSET_KEY,
        KEYSET_SIGNING_KEY,
        GRPC_TLS_CERT: pki.certPath,
        GRPC_TLS_KEY: pki.keyPath,
      }),
      createLogger('silent'),
    );
    const client = connectSecretService(
      `localhost:${controlPlane.grpcPort}`,
      credentials.createSsl(Buffer.from(pki.caPem)),
    );
    try {
      const start = await settle(client.getKeyset({ admin_token: ADMIN_TOKEN }, { deadlineMs: DEADLINE_MS }));
      expect(start.response?.keys[0]?.kid).toBe(await computeKid(initial));
      const secret = newSecret();
      const { response, error } = await settle(
        client.rotateSecret({ admin_token: ADMIN_TOKEN, new_secret: secret }, { deadlineMs: DEADLINE_MS }),
      );
      expect(error?.details).toBeUndefined();
      expect(response?.version).toBe((start.response?.version ?? 0) + 1);
      expect((await admin.get(VALKEY_KEYS.active)) === secret, 'jwt_secrets:active is the secret sent').toBe(
        true,
      );
      expect(Number(await admin.get(VALKEY_KEYS.version))).toBe(response?.version);
    } finally {
      client.close();
      await controlPlane.stop();
    }
  });

  it('refuses to start without VALKEY_TLS_CA or with a CA that did not sign the certificate, naming why', async () => {
    const stored = fingerprint(await admin.mget(VALKEY_KEYS.active, VALKEY_KEYS.state, VALKEY_KEYS.version));
    const url = valkey.url.replace('rediss://', `rediss://keyward:${VALKEY_PASSWORD}@`);
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['no CA', {}, /set VALKEY_TLS_CA/],
      ['another CA', { VALKEY_TLS_CA: otherPki.caCertPath }, /is VALKEY_TLS_CA the CA/],
    ];
    for (const [name, env, hint] of cases) {
      const config = loadConfig({ ...baseEnv(), VALKEY_URL: url, KEYSET_KEY, KEYSET_SIGNING_KEY, ...env });
      const error = await startControlPlane(config, createLogger('silent')).then(
        () => new Error(`${name}: started`),
        (failure: Error) => failure,
      );
      expect(error.message, name).toMatch(
        new RegExp(
          `^Cannot connect to Valkey at rediss://127\\.0\\.0\\.1:${valkey.port}: TLS handshake failed: `,
        ),
      );
      expect(error.message, name).toMatch(/certificate/);
      expect(error.message, name).toMatch(hint);
      expectNoSecrets(`${error.message}\n${error.stack}\n${(error.cause as Error | undefined)?.message}`);
    }
    // A plain client at the TLS port gets nowhere either.
    const plain = await startControlPlane(
      loadConfig({
        ...baseEnv(),
        VALKEY_URL: valkey.url.replace('rediss://', 'redis://'),
        KEYSET_KEY,
        KEYSET_SIGNING_KEY,
      }),
      createLogger('silent'),
    ).then(
      () => new Error('plain: started'),
      (failure: Error) => failure,
    );
    expect(plain.message).toMatch(/^Cannot connect to Valkey at redis:\/\/127\.0\.0\.1:\d+: /);
    expect(fingerprint(await admin.mget(VALKEY_KEYS.active, VALKEY_KEYS.state, VALKEY_KEYS.version))).toBe(
      stored,
    );
  });

  it('npm run start:control-plane without the CA exits non-zero, saying why, printing no secret', async () => {
    const { code, output } = await runMainUntilExit(
      {
        ...baseEnv(),
        VALKEY_URL: valkey.url.replace('rediss://', `rediss://keyward:${VALKEY_PASSWORD}@`),
        KEYSET_KEY,
        KEYSET_SIGNING_KEY,
      },
      30_000,
    );
    expect(code).toBe(1);
    expect(output).toContain('TLS handshake failed');
    expect(output).toContain('VALKEY_TLS_CA');
    expectNoSecrets(output);
  });
});
