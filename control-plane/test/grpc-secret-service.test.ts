/**
 * SecretService as deployed: the control plane over Valkey storage, called by a real gRPC client over
 * loopback. Each test sets up the keyset it needs; every log line is checked for leaks.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../shared/base64url.ts';
import { computeKid } from '../../shared/kid.ts';
import { expectStatus, settle } from '../../test/support/grpc-outcome.ts';
import { type GrpcTarget, startGrpcTarget } from '../../test/support/grpc-target.ts';
import { SecrecyLedger } from '../../test/support/secrecy-ledger.ts';
import { expectSame, readLayout } from '../../test/support/valkey-layout.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import type { GetKeysetResponse, RotateSecretRequest__Input } from '../src/grpc/proto.ts';
import type { UnaryCallOptions } from '../src/grpc/secret-service-client.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const KEYSET_KEY = randomBytes(32).toString('base64url');
const DEADLINE_MS = 10_000;
const ledger = new SecrecyLedger(ADMIN_TOKEN);
const newSecret = () => ledger.newSecret('grpc-test');

describe('SecretService over gRPC (Valkey storage)', () => {
  let valkeyDir: string;
  let target: GrpcTarget;
  /** What GetKeyset answered right after start. */
  let initial: GetKeysetResponse;
  /** The secrets installed, in order: jwt_secrets:active holds the last. */
  const installed: string[] = [];

  const rotate = (request: RotateSecretRequest__Input, options: UnaryCallOptions = {}) =>
    settle(
      target.client.rotateSecret(
        { admin_token: ADMIN_TOKEN, new_secret: '', ...request },
        { deadlineMs: DEADLINE_MS, ...options },
      ),
    );
  const getKeyset = (options: UnaryCallOptions = {}) =>
    settle(target.client.getKeyset({ admin_token: ADMIN_TOKEN }, { deadlineMs: DEADLINE_MS, ...options }));
  const revoke = (kid: string) =>
    settle(target.client.revokeKey({ admin_token: ADMIN_TOKEN, kid }, { deadlineMs: DEADLINE_MS }));
  const keysetNow = async () => {
    const outcome = await getKeyset();
    if (outcome.error) throw outcome.error;
    return outcome.response;
  };
  /** Installs a fresh secret; the active one before it becomes previous. */
  const rotateToNew = async (options: { emergency?: boolean } = {}) => {
    const secret = newSecret();
    const { error } = await rotate({ new_secret: secret, ...options });
    if (error) throw error;
    installed.push(secret);
    return secret;
  };

  beforeAll(async () => {
    valkeyDir = await mkdtemp(join(tmpdir(), 'keyward-grpc-valkey-'));
    installed.push(newSecret());
    target = await startGrpcTarget({
      adminToken: ADMIN_TOKEN,
      keysetKey: KEYSET_KEY,
      initialSecret: installed[0] as string,
      // Its own directory (kept across a restart) and an AOF written at once: the outage test restarts it.
      valkey: { dir: valkeyDir, args: ['--appendonly', 'yes', '--appendfsync', 'always'] },
    });
    initial = await keysetNow();
  });

  afterAll(async () => {
    await target?.stop();
    await rm(valkeyDir, { recursive: true, force: true });
  });

  it('starts from jwt_secrets:active as version 1', async () => {
    expect(initial.version).toBe(1);
    expect(initial.keys).toHaveLength(1);
    expect(initial.keys[0]).toMatchObject({
      kid: await computeKid(installed[0] as string),
      status: 'active',
    });
  });

  it('rotates: OK, message and version, and logs "Rotating JWT secret" at info', async () => {
    // From a keyset of one key, as after the first start.
    const previous = await rotateToNew({ emergency: true });
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
    const logged = target.harness.logLines
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'Rotating JWT secret');
    expect(logged.length).toBeGreaterThanOrEqual(1);
    expect(logged.at(-1)).toMatchObject({ level: 30, version: before + 1, kid: await computeKid(secret) });
    expect(await target.admin.get(VALKEY_KEYS.active)).toBe(secret);
    const keyset = await keysetNow();
    expect(keyset.keys.map((k) => [k.kid, k.status])).toEqual([
      [await computeKid(secret), 'active'],
      [await computeKid(previous), 'previous'],
    ]);
  });

  it('takes the admin token from authorization: Bearer metadata', async () => {
    const secret = newSecret();
    const { response, error } = await rotate(
      { admin_token: '', new_secret: secret },
      { bearer: ADMIN_TOKEN },
    );
    expect(error).toBeUndefined();
    installed.push(secret);
    expect(response?.kid).toBe(await computeKid(secret));
    const viaBearer = await settle(
      target.client.getKeyset({ admin_token: '' }, { bearer: ADMIN_TOKEN, deadlineMs: DEADLINE_MS }),
    );
    expect(viaBearer.response?.keys[0]?.kid).toBe(await computeKid(secret));
  });

  it('answers PERMISSION_DENIED "Invalid admin token" for a wrong or missing token, changing nothing', async () => {
    const before = await keysetNow();
    const wrong = ledger.tokenCandidate(
      `${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('A') ? 'B' : 'A'}`,
    );
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
      await settle(target.client.getKeyset({ admin_token: '' }, { bearer: wrong, deadlineMs: DEADLINE_MS })),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expect(await keysetNow()).toEqual(before);
  });

  it('answers INVALID_ARGUMENT for weak, empty, reused or ambiguous secrets', async () => {
    await rotateToNew();
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
    const generated = ledger.secret((await target.admin.get(VALKEY_KEYS.active)) as string);
    installed.push(generated);
    expect(utf8(generated).length).toBeGreaterThanOrEqual(32);
    expect(await computeKid(generated)).toBe(response?.kid);
    expect((await keysetNow()).keys[0]).toMatchObject({ kid: response?.kid, status: 'active' });
  });

  it('GetKeyset never returns secret material or the token', async () => {
    await rotateToNew();
    const outcome = await getKeyset();
    expect(outcome.response?.keys.length).toBeGreaterThanOrEqual(2);
    for (const key of outcome.response?.keys ?? []) {
      expect(Object.keys(key).sort()).toEqual([
        'alg',
        'created_at',
        'expires_at',
        'kid',
        'secret_version',
        'status',
      ]);
    }
    ledger.expectNoneIn('GetKeyset', JSON.stringify(outcome.response));
  });

  it('RevokeKey: NOT_FOUND, FAILED_PRECONDITION for the active key, OK for a previous one', async () => {
    await rotateToNew();
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
    installed.push(secret);
    expect(response?.success).toBe(true);
    const after = await keysetNow();
    expect(after.keys.map((k) => k.kid)).not.toContain(superseded);
    expect(after.keys.map((k) => [k.kid, k.status])).toEqual([[await computeKid(secret), 'active']]);
  });

  it('answers UNAVAILABLE while Valkey is down, leaves its state unchanged, and recovers', async () => {
    const { admin, valkey } = target;
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
    await waitFor(async () => ((await admin.ping().catch(() => 'down')) === 'PONG' ? true : undefined), {
      what: 'Valkey answering PING',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expectSame(await readLayout(admin), before, 'a refused write changes nothing in Valkey');
    // The control plane reconnects by itself.
    const secret = newSecret();
    const outcome = await waitFor(
      async () => {
        const result = await rotate({ new_secret: secret });
        return result.error?.code === status.UNAVAILABLE ? undefined : result;
      },
      { what: 'a rotation other than UNAVAILABLE', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(outcome.response?.version).toBe(keyset.version + 1);
    installed.push(secret);
    expect(await admin.get(VALKEY_KEYS.active)).toBe(secret);
  });

  it('never logs the admin token or a secret', async () => {
    // Provoke the paths that log: rotations, errors and warnings.
    await rotateToNew();
    await rotateToNew({ emergency: true });
    await revoke('no-such-kid');
    await rotate({ new_secret: 'a'.repeat(31) });
    await rotate({ admin_token: ledger.tokenCandidate(`${ADMIN_TOKEN}x`), new_secret: newSecret() });
    await rotate({ new_secret: 'short-but-secret' });
    const { logLines } = target.harness;
    expect(logLines.length).toBeGreaterThan(10);
    expect(logLines.some((line) => line.includes('"access":true'))).toBe(true);
    ledger.expectNoneIn('the log', logLines.join('\n'));
    expect(logLines.join('\n')).not.toContain('short-but-secret');
  });
});
