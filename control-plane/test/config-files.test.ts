import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess } from '../../test/support/managed-process.ts';
import { runMainUntilExit } from '../../test/support/run-main.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';
import { AdminAuth } from '../src/admin-auth.ts';
import { loadAdminTokens, loadConfig, SECRET_FILE_VARIABLES } from '../src/config.ts';
import { ConfigError, ControlPlaneError } from '../src/errors.ts';

const token = () => randomBytes(48).toString('base64url'); // 64 characters
const ADMIN_TOKEN = token();
const NEXT_TOKEN = token();
const KEYSET_KEY = randomBytes(32).toString('base64url');
const KEYSET_SIGNING_KEY = randomBytes(32).toString('base64url');
const JWT_SECRET = randomBytes(32).toString('base64url');

const dir = await mkdtemp(join(tmpdir(), 'keyward-config-files-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

let files = 0;
async function secretFile(content: string): Promise<string> {
  files += 1;
  const path = join(dir, `secret-${files}`);
  await writeFile(path, content);
  return path;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('NAME_FILE for secret variables', () => {
  it('reads every secret variable from its file, dropping the trailing newline', async () => {
    const config = loadConfig({
      ADMIN_TOKEN_FILE: await secretFile(`${ADMIN_TOKEN}\n`),
      VALKEY_URL_FILE: await secretFile('redis://:hunter2hunter2@valkey.internal:6379/2\n'),
      KEYSET_KEY_FILE: await secretFile(`${KEYSET_KEY}\r\n`),
      KEYSET_SIGNING_KEY_FILE: await secretFile(KEYSET_SIGNING_KEY),
      JWT_SECRET_FILE: await secretFile(`${JWT_SECRET}\n`),
      JWT_PREVIOUS_SECRETS_FILE: await secretFile(`${JWT_SECRET}\n`),
    });
    expect(config.adminToken).toBe(ADMIN_TOKEN);
    expect(config.storage).toBe('valkey');
    expect(config.valkeyUrl).toBe('redis://:hunter2hunter2@valkey.internal:6379/2');
    expect(Buffer.from(config.keysetKey as Uint8Array).toString('base64url')).toBe(KEYSET_KEY);
    expect(Buffer.from(config.keysetSigningKey as Uint8Array).toString('base64url')).toBe(KEYSET_SIGNING_KEY);
    expect(config.jwtSecret).toBe(JWT_SECRET);
    expect(config.jwtPreviousSecrets).toEqual([JWT_SECRET]);
  });

  it.each(SECRET_FILE_VARIABLES)('%s and %s_FILE both set: start-up stops naming both', async (name) => {
    const error = configError(() =>
      loadConfig({ ADMIN_TOKEN, [name]: 'x'.repeat(64), [`${name}_FILE`]: join(dir, 'whatever') }),
    );
    expect(error.variable).toBe(name);
    expect(error.message).toContain(`${name}_FILE`);
    expect(error.message).not.toContain('x'.repeat(64));
  });

  it('a missing file stops start-up naming the variable and the path', () => {
    const missing = join(dir, 'no-such-file');
    const error = configError(() => loadConfig({ ADMIN_TOKEN, KEYSET_KEY_FILE: missing }));
    expect(error.variable).toBe('KEYSET_KEY_FILE');
    expect(error.message).toContain(missing);
    expect(error.message).toContain('ENOENT');
  });

  it('an unreadable file (here a directory) stops start-up naming the path, never the content', async () => {
    const error = configError(() => loadConfig({ ADMIN_TOKEN_FILE: dir }));
    expect(error.variable).toBe('ADMIN_TOKEN_FILE');
    expect(error.message).toContain(dir);
    expect(error.message).toContain('EISDIR');
  });

  it('a file whose content is bad is judged as the variable would be, without echoing it', async () => {
    const short = 'too-short-token';
    const error = configError(() => loadConfig({ ADMIN_TOKEN_FILE: secretFileSync(short) }));
    expect(error.variable).toBe('ADMIN_TOKEN');
    expect(error.message).toContain('(read from ADMIN_TOKEN_FILE)');
    expect(error.message).not.toContain(short);
  });

  it('an empty NAME_FILE counts as unset', () => {
    expect(loadConfig({ ADMIN_TOKEN, KEYSET_KEY_FILE: '' }).keysetKey).toBeUndefined();
  });
});

function secretFileSync(content: string): string {
  files += 1;
  const path = join(dir, `secret-${files}`);
  writeFileSync(path, content);
  return path;
}

describe('two admin tokens during a switch', () => {
  it('ADMIN_TOKEN takes two comma-separated tokens, each at least 64 characters', () => {
    expect(loadConfig({ ADMIN_TOKEN: `${ADMIN_TOKEN},${NEXT_TOKEN}` }).adminToken).toBe(
      `${ADMIN_TOKEN},${NEXT_TOKEN}`,
    );
    expect(loadAdminTokens({ ADMIN_TOKEN: `${ADMIN_TOKEN} , ${NEXT_TOKEN}` })).toEqual([
      ADMIN_TOKEN,
      NEXT_TOKEN,
    ]);
    const short = configError(() => loadConfig({ ADMIN_TOKEN: `${ADMIN_TOKEN},short-one` }));
    expect(short.variable).toBe('ADMIN_TOKEN');
    expect(short.message).toContain('each comma-separated token');
    expect(short.message).not.toContain(ADMIN_TOKEN);
    const three = configError(() => loadConfig({ ADMIN_TOKEN: `${ADMIN_TOKEN},${NEXT_TOKEN},${token()}` }));
    expect(three.message).toContain('at most 2');
    expect(configError(() => loadConfig({ ADMIN_TOKEN: ',' })).variable).toBe('ADMIN_TOKEN');
  });

  it('the admin check accepts either token and nothing else; setTokens drops the old one', () => {
    const auth = new AdminAuth(`${ADMIN_TOKEN},${NEXT_TOKEN}`);
    expect(auth.tokenCount).toBe(2);
    expect(() => auth.check('192.0.2.1', ADMIN_TOKEN)).not.toThrow();
    expect(() => auth.check('192.0.2.1', NEXT_TOKEN)).not.toThrow();
    expect(() => auth.check('192.0.2.1', `${ADMIN_TOKEN},${NEXT_TOKEN}`)).toThrow(ControlPlaneError);
    auth.setTokens([NEXT_TOKEN]);
    expect(() => auth.check('192.0.2.1', NEXT_TOKEN)).not.toThrow();
    let refused: unknown;
    try {
      auth.check('192.0.2.1', ADMIN_TOKEN);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ControlPlaneError);
    expect((refused as ControlPlaneError).code).toBe('permission_denied');
  });

  it('loadAdminTokens reads ADMIN_TOKEN_FILE as start-up does', async () => {
    const path = await secretFile(`${ADMIN_TOKEN},${NEXT_TOKEN}\n`);
    expect(loadAdminTokens({ ADMIN_TOKEN_FILE: path })).toEqual([ADMIN_TOKEN, NEXT_TOKEN]);
    await writeFile(path, 'short\n');
    expect(configError(() => loadAdminTokens({ ADMIN_TOKEN_FILE: path })).variable).toBe('ADMIN_TOKEN');
  });
});

describe('storage chosen by default', () => {
  it('is flagged when neither SECRET_STORAGE nor a Valkey variable is set', () => {
    expect(loadConfig({ ADMIN_TOKEN }).storageDefaulted).toBe(true);
    expect(loadConfig({ ADMIN_TOKEN, SECRET_STORAGE: 'env' }).storageDefaulted).toBe(false);
    expect(
      loadConfig({ ADMIN_TOKEN, VALKEY_URL: 'redis://127.0.0.1:6379', KEYSET_KEY, KEYSET_SIGNING_KEY })
        .storageDefaulted,
    ).toBe(false);
  });
});

describe('the control plane process', () => {
  it('stops at start-up when ADMIN_TOKEN and ADMIN_TOKEN_FILE are both set, printing neither token', async () => {
    const path = await secretFile(`${NEXT_TOKEN}\n`);
    const { code, output } = await runMainUntilExit({ ADMIN_TOKEN, ADMIN_TOKEN_FILE: path });
    expect(code).toBe(2);
    expect(output).toContain('ADMIN_TOKEN: set ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both');
    expect(output.includes(ADMIN_TOKEN) || output.includes(NEXT_TOKEN)).toBe(false);
  });

  it('stops at start-up naming ADMIN_TOKEN_FILE and its path when the file is missing', async () => {
    const missing = join(dir, 'absent-token');
    const { code, stderr } = await runMainUntilExit({ ADMIN_TOKEN_FILE: missing });
    expect(code).toBe(2);
    expect(stderr).toContain(`ADMIN_TOKEN_FILE: cannot read ${missing} (ENOENT)`);
  });

  it.each([
    ['warns loudly when env storage is chosen by default', {}, true],
    ['says nothing when SECRET_STORAGE=env is explicit', { SECRET_STORAGE: 'env' }, false],
  ])('%s', async (_, extra, warned) => {
    const child = startProcess('control plane', process.execPath, ['control-plane/src/main.ts'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: {
        PATH: process.env.PATH,
        ADMIN_TOKEN,
        GRPC_PORT: '0',
        HTTP_PORT: '0',
        HOST: '127.0.0.1',
        ROTATION_INTERVAL: 'off',
        ...extra,
      },
    });
    try {
      await waitForOutput(child, /control plane listening/);
      expect(child.output().includes('SECRET_STORAGE not set')).toBe(warned);
    } finally {
      await child.stop();
    }
  });
});
