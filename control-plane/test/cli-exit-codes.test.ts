/**
 * `npx keyward`'s exit codes and one-line errors, run as an operator (or cron) runs it: the real CLI as a child
 * process against a real control plane over Valkey, pushing to real Node edges, one EDGE_URLS target dead.
 * 0 all confirmed, 5 stored but an edge did not confirm (named), 3 refused, 4 unreachable, 2 usage, and
 * scripts/rotate-secrets.sh passing the CLI's exit on to cron.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../control-plane/src/cli/commands.ts';
import { EXIT_CODE_TABLE } from '../../control-plane/src/cli/outcome.ts';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, newAdminToken, startHarness } from '../../test/support/control-plane-harness.ts';
import { ROOT } from '../../test/support/edge-processes.ts';
import { unreachableUrl } from '../../test/support/inventory-edges.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const settle = (run: Promise<{ stdout: string; stderr: string }>): Promise<CliResult> =>
  run.then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );

const baseEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME });

function keyward(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return settle(
    promisify(execFile)(process.execPath, [join(ROOT, 'control-plane/src/cli.ts'), ...args], {
      cwd: ROOT,
      timeout: 60_000,
      env: { ...baseEnv(), ...env },
    }),
  );
}

/** One line on stderr, no stack frame, and neither the admin token nor `secrets` anywhere in the output. */
function expectOneLine(result: CliResult, secrets: string[] = []): string {
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(result.stderr).not.toContain('    at ');
  for (const secret of secrets) expect(`${result.stdout}${result.stderr}`).not.toContain(secret);
  return lines[0] as string;
}

describe('keyward exit codes against a control plane with live and dead edges', () => {
  const valkeys: ValkeyServer[] = [];
  const edges: NodeEdgeServer[] = [];
  let healthy: Harness;
  let degraded: Harness;
  let dead: string;
  let healthyEnv: Record<string, string>;
  let degradedEnv: Record<string, string>;

  beforeAll(async () => {
    valkeys.push(await startValkey(), await startValkey());
    for (let i = 0; i < 3; i++) edges.push(await startNodeEdgeServer(KEYSET_KEY));
    dead = await unreachableUrl();
    // Each control plane has edges of its own: its versions are not the other's.
    const [first, second, third] = edges as [NodeEdgeServer, NodeEdgeServer, NodeEdgeServer];
    healthy = await startHarness({
      valkeyUrl: valkeys[0]?.url,
      keysetKey: KEYSET_KEY,
      edgeUrls: [first.url, second.url],
    });
    degraded = await startHarness({
      valkeyUrl: valkeys[1]?.url,
      keysetKey: KEYSET_KEY,
      edgeUrls: [third.url, dead],
    });
    healthyEnv = { ADMIN_TOKEN: healthy.adminToken, KEYWARD_ADDRESS: healthy.grpcAddress };
    degradedEnv = { ADMIN_TOKEN: degraded.adminToken, KEYWARD_ADDRESS: degraded.grpcAddress };
  });

  afterAll(async () => {
    await healthy?.stop();
    await degraded?.stop();
    for (const edge of edges) await edge.close();
    for (const valkey of valkeys) await valkey.stop();
  });

  it('exits 0 when every edge confirmed a rotation, a stage, a promotion and a revocation', async () => {
    const rotated = await keyward(['rotate'], healthyEnv);
    expect(rotated).toMatchObject({ code: 0, stderr: '' });
    expect(rotated.stdout).toContain('2/2 edges confirmed');

    // An HS256 secret on stdin: its kid comes back as JSON, the secret is never printed.
    const secret = randomBytes(48).toString('base64');
    const run = promisify(execFile)(
      process.execPath,
      [join(ROOT, 'control-plane/src/cli.ts'), 'rotate', '--secret-stdin', '--json'],
      { cwd: ROOT, timeout: 60_000, env: { ...baseEnv(), ...healthyEnv } },
    );
    run.child.stdin?.end(`${secret}\n`);
    const fromStdin = await settle(run);
    expect(fromStdin).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ success: true, kid: await computeKid(secret) });
    expect(fromStdin.stdout).not.toContain(secret);

    const staged = await keyward(['stage', '--alg', 'ES256', '--json'], healthyEnv);
    expect(staged).toMatchObject({ code: 0, stderr: '' });
    const stage = JSON.parse(staged.stdout) as { kid: string; edges: Array<{ confirmed: boolean }> };
    expect(stage.edges.map((edge) => edge.confirmed)).toEqual([true, true]);

    const promoted = await keyward(['promote', '--kid', stage.kid], healthyEnv);
    expect(promoted).toMatchObject({ code: 0, stderr: '' });

    const previous = (await healthy.getKeyset()).keys.find((key) => key.status === 'previous');
    expect(previous).toBeDefined();
    const revoked = await keyward(['revoke', previous?.kid as string, '--json'], healthyEnv);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    const revoke = JSON.parse(revoked.stdout) as { version: number; edges: Array<{ confirmed: boolean }> };
    expect(revoke.edges.map((edge) => edge.confirmed)).toEqual([true, true]);
    expect(revoke.version).toBe((await healthy.getKeyset()).version);
  });

  it('exits 5 naming the dead edge when the change is stored but not every edge confirmed it', async () => {
    const before = (await degraded.getKeyset()).version;
    const rotated = await keyward(['rotate'], degradedEnv);
    expect(rotated.code).toBe(5);
    const line = expectOneLine(rotated, [degraded.adminToken]);
    expect(line).toMatch(/^keyward: partial: version \d+ is stored but 1\/2 edges did not confirm it: /);
    expect(line).toContain(dead);
    expect(line).not.toContain(edges[2]?.url);
    expect(rotated.stdout).toContain('1/2 edges confirmed');
    expect((await degraded.getKeyset()).version).toBe(before + 1);

    const staged = await keyward(['stage', '--alg', 'EdDSA', '--json'], degradedEnv);
    expect(staged.code).toBe(5);
    expect(expectOneLine(staged)).toContain(dead);
    const stage = JSON.parse(staged.stdout) as {
      kid: string;
      edges: Array<{ url: string; confirmed: boolean }>;
    };
    expect(stage.edges.filter((edge) => !edge.confirmed).map((edge) => edge.url)).toEqual([dead]);

    // Promotion waits for every edge unless forced: refused (3), then stored but unconfirmed (5).
    const refused = await keyward(['promote', '--kid', stage.kid], degradedEnv);
    expect(refused.code).toBe(3);
    expect(expectOneLine(refused)).toMatch(/^keyward: failed precondition: /);
    const forced = await keyward(['promote', '--kid', stage.kid, '--force'], degradedEnv);
    expect(forced.code).toBe(5);
    expect(expectOneLine(forced)).toContain(dead);

    const previous = (await degraded.getKeyset()).keys.find((key) => key.status === 'previous');
    const revoked = await keyward(['revoke', previous?.kid as string], degradedEnv);
    expect(revoked.code).toBe(5);
    expect(expectOneLine(revoked)).toContain(dead);
  });

  it('scripts/rotate-secrets.sh passes the CLI exit on, so that a cron rotation missing an edge pages', async () => {
    const run = (env: Record<string, string>) =>
      settle(
        promisify(execFile)('bash', [join(ROOT, 'scripts/rotate-secrets.sh')], {
          cwd: ROOT,
          timeout: 120_000,
          // These control planes serve plaintext gRPC; the script's TLS default is rotate-secrets-script.test.ts's.
          env: { ...baseEnv(), KEYWARD_DIR: ROOT, KEYWARD_PLAINTEXT: '1', ...env },
        }),
      );
    const partial = await run(degradedEnv);
    expect(partial.code).toBe(5);
    expect(partial.stderr).toContain(dead);
    expect(await run(healthyEnv)).toMatchObject({ code: 0 });
  });

  it('exits 3 on a wrong admin token, in one line naming the refusal and neither token', async () => {
    const before = (await healthy.getKeyset()).version;
    const wrong = newAdminToken();
    const result = await keyward(['rotate'], { ...healthyEnv, ADMIN_TOKEN: wrong });
    expect(result.code).toBe(3);
    expect(expectOneLine(result, [wrong, healthy.adminToken])).toMatch(/^keyward: permission denied: /);
    const json = await keyward(['status', '--json'], { ...healthyEnv, ADMIN_TOKEN: wrong });
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 'permission_denied', message: expect.stringMatching(/^permission denied: /), exit: 3 },
    });
    expect((await healthy.getKeyset()).version).toBe(before);
  });

  it('takes a kid that starts with a dash as the positional of revoke: not found (3), not a usage error', async () => {
    const result = await keyward(['revoke', `-${'A'.repeat(42)}`], healthyEnv);
    expect(result.code).toBe(3);
    expect(expectOneLine(result, [healthy.adminToken])).toMatch(/^keyward: not found: /);
  });

  it('takes the token from ADMIN_TOKEN_FILE, and from "<old>,<new>" calls with the new one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyward-cli-token-'));
    try {
      const file = join(dir, 'admin-token');
      await writeFile(file, `${healthy.adminToken}\n`);
      const { ADMIN_TOKEN: _inline, ...withoutInline } = healthyEnv;
      expect(await keyward(['status'], { ...withoutInline, ADMIN_TOKEN_FILE: file })).toMatchObject({
        code: 0,
      });
      const switching = `${newAdminToken()},${healthy.adminToken}`;
      expect(await keyward(['status'], { ...healthyEnv, ADMIN_TOKEN: switching })).toMatchObject({ code: 0 });
      const both = await keyward(['status'], { ...healthyEnv, ADMIN_TOKEN_FILE: file });
      expect(both.code).toBe(2);
      expect(expectOneLine(both, [healthy.adminToken])).toMatch(
        /^keyward: set ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 4 when the control plane cannot be reached, and when Valkey cannot be', async () => {
    const address = new URL(await unreachableUrl()).host;
    const down = await keyward(['rotate'], { ...healthyEnv, KEYWARD_ADDRESS: address });
    expect(down.code).toBe(4);
    expect(expectOneLine(down, [healthy.adminToken])).toContain(
      `unavailable: cannot connect to the control plane at ${address}`,
    );
    const valkeyUrl = `redis://${new URL(await unreachableUrl()).host}`;
    for (const args of [['audit'], ['sign', '--from-valkey']]) {
      const result = await keyward(args, { VALKEY_URL: valkeyUrl });
      expect(result.code).toBe(4);
      expect(expectOneLine(result)).toMatch(/^keyward: reading .*Valkey failed: /);
    }
  });
});

describe('keyward usage errors and --help', () => {
  it('rotate --bogus: exit 2, one line naming the option and the usage of rotate, no stack trace', async () => {
    const result = await keyward(['rotate', '--bogus']);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(expectOneLine(result)).toBe(`keyward: unknown option --bogus (usage: ${COMMANDS.rotate?.usage})`);
    const json = await keyward(['rotate', '--bogus', '--json']);
    expect(json).toMatchObject({ code: 2, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 'usage', message: 'unknown option --bogus', exit: 2 },
    });
  });

  it('an unknown command, a missing argument or value and an unreadable file exit 2 in one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /^keyward: unknown command "frobnicate" \(usage: /],
      [['revoke'], /^keyward: revoke needs <kid> \(usage: keyward revoke /],
      [['revoke', 'a', 'b'], /^keyward: unexpected argument "b" \(usage: keyward revoke /],
      [['stage', '--alg'], /^keyward: option --alg needs a value \(usage: keyward stage /],
      [['status', '--force'], /^keyward: unknown option --force \(usage: keyward status /],
      [['sign', '--jwk', '/nonexistent/key.jwk'], /^keyward: cannot read \/nonexistent\/key\.jwk: ENOENT /],
      [['rotate'], /^keyward: ADMIN_TOKEN is not set \(usage: keyward rotate /],
    ];
    for (const [args, pattern] of cases) {
      const result = await keyward(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(expectOneLine(result)).toMatch(pattern);
    }
  });

  it('--help and -h on every command print its usage on stdout and exit 0; keyward --help lists them all', async () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      for (const help of ['--help', '-h']) {
        const result = await keyward([name, help]);
        expect(result, `${name} ${help}`).toMatchObject({ code: 0, stderr: '' });
        expect(result.stdout.startsWith(`usage: ${spec.usage}\n`)).toBe(true);
      }
    }
    const general = await keyward(['--help']);
    expect(general).toMatchObject({ code: 0, stderr: '' });
    for (const name of Object.keys(COMMANDS)) expect(general.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(general.stdout).toContain(EXIT_CODE_TABLE);
  });

  it('the README documents the same exit codes as keyward --help', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(EXIT_CODE_TABLE);
  });
});

it('keygen --json and sign --json print one JSON object', async () => {
  const result = await keyward(['keygen', '--json']);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  const signed = await keyward(['sign', '--jwk', join(ROOT, 'package.json'), '--json']);
  expect(signed.code).toBe(2);
  expect(JSON.parse(signed.stdout)).toMatchObject({ error: { code: 'signing_key_invalid', exit: 2 } });
  // Any text file is an HS256 secret: its trimmed bytes are the key.
  const file = join(ROOT, 'package.json');
  const token = await keyward(['sign', '--secret-file', file, '--sub', 'json', '--json']);
  expect(token).toMatchObject({ code: 0, stderr: '' });
  const secret = new TextEncoder().encode((await readFile(file, 'utf8')).trim());
  const { payload } = await jwtVerify((JSON.parse(token.stdout) as { token: string }).token, secret);
  expect(payload.sub).toBe('json');
  expect(Object.keys(JSON.parse(result.stdout))).toEqual([
    'KEYSET_SIGNING_KEY',
    'KEYSET_VERIFY_KEY',
    'KEYSET_KEY',
  ]);
});
