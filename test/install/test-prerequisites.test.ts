/**
 * scripts/test-prerequisites.sh, `npm test`'s pretest, where it must not install: a real unprivileged user (the
 * test, when run as root, becomes `nobody` through util-linux's setpriv) and root with KEYWARD_NO_INSTALL=1. In
 * both, a PATH made for the test lacks valkey-server and valkey-cli and holds openssl, promtool and prometheus: the
 * script stops at once with one line naming exactly what is missing, and installs nothing. The installing branch
 * (root on Debian) is what CI's bare machine runs; it is not run here, since it changes the machine.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/packed-install.ts';

const SCRIPT = join(ROOT, 'scripts/test-prerequisites.sh');
const isRoot = process.getuid?.() === 0;

/** A command's absolute path on this process's PATH. */
function which(command: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
  if (!found.startsWith('/')) throw new Error(`${command} is not on PATH`);
  return found;
}

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let script: string;
let bin: string;

beforeAll(() => {
  // World-readable, so that `nobody` can read the script and search the directory (a checkout under /root is not).
  dir = mkdtempSync(join(tmpdir(), 'keyward-prerequisites-'));
  chmodSync(dir, 0o755);
  script = join(dir, 'test-prerequisites.sh');
  copyFileSync(SCRIPT, script);
  chmodSync(script, 0o644);
  bin = join(dir, 'bin');
  mkdirSync(bin, { mode: 0o755 });
  for (const command of ['openssl', 'promtool', 'prometheus'])
    symlinkSync(which(command), join(bin, command));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The script (or `bash -c` code) under bash with only `env` as its environment, as `nobody` if asked. */
function runScript(env: Record<string, string>, asNobody: boolean, code?: string): Outcome {
  const bash = code === undefined ? [which('bash'), script] : [which('bash'), '-c', code];
  const command = [which('env'), '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...bash];
  const [file, ...args] = asNobody
    ? [which('setpriv'), '--reuid=65534', '--regid=65534', '--clear-groups', ...command]
    : command;
  const run = spawnSync(file as string, args, {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function expectOneLineNamingValkey(outcome: Outcome): string {
  expect(outcome.status).toBe(1);
  expect(outcome.stdout).toBe('');
  const lines = outcome.stderr.split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toBe('');
  const line = lines[0] as string;
  expect(line).toMatch(/^npm test needs valkey-server and valkey-cli \(Debian: valkey-server[ )]/);
  // Only what is missing: the commands the test's PATH holds are not named.
  expect(line).not.toMatch(/openssl|promtool/);
  return line;
}

describe('test prerequisites where nothing may be installed', () => {
  it('as an unprivileged user, without valkey-server on PATH: one line naming it, exit 1', () => {
    // Not root, really: the same way of running gives bash an unprivileged user id.
    expect(runScript({ PATH: bin }, isRoot, 'echo $EUID').stdout.trim()).not.toBe('0');
    const line = expectOneLineNamingValkey(runScript({ PATH: bin }, isRoot));
    expect(line).toContain('run npm test as root on Debian or Ubuntu');
    expect(line).not.toContain('KEYWARD_NO_INSTALL');
  });

  it.runIf(isRoot)(
    'as root with KEYWARD_NO_INSTALL=1, without valkey-server on PATH: the same, saying why',
    () => {
      const line = expectOneLineNamingValkey(runScript({ PATH: bin, KEYWARD_NO_INSTALL: '1' }, false));
      expect(line).toMatch(/\(KEYWARD_NO_INSTALL=1: nothing is installed\)$/);
    },
  );

  it('with nothing on PATH, names every command the tests run and what to install for it', () => {
    const outcome = runScript({ PATH: join(dir, 'empty'), KEYWARD_NO_INSTALL: '1' }, false);
    expect(outcome.status).toBe(1);
    for (const name of [
      'openssl (Debian: openssl)',
      'valkey-server and valkey-cli',
      'promtool and prometheus',
    ]) {
      expect(outcome.stderr).toContain(name);
    }
  });

  it('on this machine, which has them all, says nothing and exits 0', () => {
    const outcome = runScript({ PATH: process.env.PATH ?? '', KEYWARD_NO_INSTALL: '1' }, false);
    expect(outcome).toEqual({ status: 0, stdout: '', stderr: '' });
  });
});
