/**
 * `npx keyward` run as an operator runs it against a real control plane over Valkey: rotate --alg, stage,
 * promote, status showing each key's algorithm and status, the audit log still verifying, and `sign` from a
 * secret file, a private JWK in Valkey (`jwt_secrets:signing_key`, a plain GET) or refused with one line.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Valkey } from 'iovalkey';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { ROOT } from '../../test/support/edge-processes.ts';
import { EDDSA_PAIR, ES256_PAIR, privateJwk } from '../../test/support/key-pairs.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function keyward(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return promisify(execFile)(process.execPath, [join(ROOT, 'control-plane/src/cli.ts'), ...args], {
    cwd: ROOT,
    timeout: 30_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

describe('keyward rotate, stage, promote and status (Valkey storage)', () => {
  let valkey: ValkeyServer;
  let harness: Harness;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    valkey = await startValkey();
    harness = await startHarness({ valkeyUrl: valkey.url, keysetKey: randomBytes(32).toString('base64url') });
    dir = await mkdtemp(join(tmpdir(), 'keyward-cli-'));
    env = { ADMIN_TOKEN: harness.adminToken, KEYWARD_ADDRESS: harness.grpcAddress, VALKEY_URL: valkey.url };
  });

  afterAll(async () => {
    await harness?.stop();
    await valkey?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stages an HS256 key from a secret file, shows it as standby, promotes it, and the audit log verifies', async () => {
    const secret = randomBytes(48).toString('base64');
    const file = join(dir, 'secret');
    await writeFile(file, `${secret}\n`);
    const kid = await computeKid(secret);

    const staged = await keyward(['stage', '--alg', 'HS256', '--secret-file', file], env);
    expect(staged).toMatchObject({ code: 0, stderr: '' });
    expect(staged.stdout).toContain(`kid ${kid}`);
    expect(staged.stdout).not.toContain(secret);

    const status = await keyward(['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`standby +HS256 +v\\d+ ${kid}`));
    expect(status.stdout).toMatch(/active +HS256 /);

    const again = await keyward(['stage', '--alg', 'HS256'], env);
    expect(again.code).toBe(3);
    expect(again.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^keyward: failed precondition: Key .* is already standby.*\(usage: keyward stage /,
      ),
    ]);

    const promoted = await keyward(['promote', '--kid', kid], env);
    expect(promoted).toMatchObject({ code: 0, stderr: '' });
    expect(promoted.stdout).toContain(`Key ${kid} promoted to active`);
    expect((await keyward(['status'], env)).stdout).toMatch(new RegExp(`active +HS256 +v\\d+ ${kid}`));

    const audit = await keyward(['audit', '--json'], env);
    expect(audit.code).toBe(0);
    expect(JSON.parse(audit.stdout)).toMatchObject({ ok: true, keysetChain: null, auditLog: null });
    const reader = new Valkey(valkey.url);
    const texts = await reader.lrange('jwt_secrets:audit', 0, -1).finally(() => reader.disconnect());
    const entries = texts.map((text) => JSON.parse(text) as { action: string; kid: string });
    expect(entries.slice(-2).map((entry) => [entry.action, entry.kid])).toEqual([
      ['stage', kid],
      ['promote', kid],
    ]);
  });

  it('refuses an unknown --alg and a promote without --kid in one line, changing nothing', async () => {
    const before = (await harness.getKeyset()).version;
    const unknown = await keyward(['rotate', '--alg', 'RS256'], env);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      expect.stringContaining('Unknown key algorithm "RS256"'),
    ]);
    // A kid is base64url and may start with a dash: it is still the value of --kid, not an option.
    const dashed = await keyward(['promote', '--kid', '-AbCdEfGh'], env);
    expect(dashed.code).toBe(3);
    expect(dashed.stderr.trim()).toMatch(
      /^keyward: not found: No key with this kid in the keyset \(usage: keyward promote [^\n]*\)$/,
    );
    const noKid = await keyward(['promote'], env);
    expect(noKid.code).toBe(2);
    expect(noKid.stderr).toContain('promote needs --kid');
    expect((await harness.getKeyset()).version).toBe(before);
  });
});

describe('keyward sign', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyward-sign-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('--secret-file signs HS256 with the secret text and its kid, as before', async () => {
    const secret = randomBytes(48).toString('base64');
    const file = join(dir, 'hs256');
    await writeFile(file, `${secret}\n`);
    const signed = await keyward(['sign', '--secret-file', file, '--sub', 'alice']);
    expect(signed.code).toBe(0);
    const { payload, protectedHeader } = await jwtVerify(
      signed.stdout.trim(),
      new TextEncoder().encode(secret),
    );
    expect(protectedHeader).toEqual({ alg: 'HS256', kid: await computeKid(secret), typ: 'JWT' });
    expect(payload.sub).toBe('alice');
  });

  it('--from-valkey signs with the private JWK in jwt_secrets:signing_key, for each algorithm', async () => {
    const valkey = await startValkey();
    const client = new Valkey(valkey.url);
    try {
      const secret = randomBytes(48).toString('base64');
      const oct = {
        kty: 'oct',
        k: Buffer.from(secret).toString('base64url'),
        kid: await computeKid(secret),
        alg: 'HS256',
      };
      for (const jwk of [oct, privateJwk(ES256_PAIR), privateJwk(EDDSA_PAIR)]) {
        await client.set('jwt_secrets:signing_key', JSON.stringify(jwk));
        const signed = await keyward(['sign', '--from-valkey', '--sub', `valkey-${jwk.alg}`], {
          VALKEY_URL: valkey.url,
        });
        expect(signed).toMatchObject({ code: 0, stderr: '' });
        const token = signed.stdout.trim();
        const { payload, protectedHeader } =
          jwk.kty === 'oct'
            ? await jwtVerify(token, new TextEncoder().encode(secret))
            : await jwtVerify(token, createLocalJWKSet({ keys: [{ ...jwk, d: undefined }] }));
        expect(protectedHeader).toMatchObject({ alg: jwk.alg, kid: jwk.kid });
        expect(payload.sub).toBe(`valkey-${jwk.alg}`);
      }
      await client.del('jwt_secrets:signing_key');
      const missing = await keyward(['sign', '--from-valkey'], { VALKEY_URL: valkey.url });
      expect(missing.code).toBe(3);
      expect(missing.stderr.trim()).toMatch(
        /^keyward: jwt_secrets:signing_key is not set in Valkey \(usage: /,
      );
    } finally {
      client.disconnect();
      await valkey.stop();
    }
  });

  it('refuses a JWK that cannot sign and a second key source, in one line without the key', async () => {
    const file = join(dir, 'bad.jwk');
    await writeFile(file, JSON.stringify({ ...privateJwk(ES256_PAIR), alg: 'RS256' }));
    const wrongAlg = await keyward(['sign', '--jwk', file]);
    expect(wrongAlg.code).toBe(2);
    expect(wrongAlg.stderr.trim().split('\n')).toEqual([
      expect.stringContaining('"alg" must be HS256, ES256 or EdDSA'),
    ]);
    expect(wrongAlg.stderr).not.toContain(ES256_PAIR.d);
    await writeFile(file, 'not json');
    expect((await keyward(['sign', '--jwk', file])).stderr.trim()).toMatch(
      new RegExp(`^keyward: ${file} is not a JSON JWK \\(usage: keyward sign `),
    );
    const both = await keyward(['sign', '--jwk', file, '--secret-file', file]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of');
  });
});
