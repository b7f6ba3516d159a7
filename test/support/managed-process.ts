/**
 * Child processes the suite starts: each in its own process group (wrangler starts workerd and esbuild
 * beneath it), output kept for failure messages, and stopped by group id. A process-exit hook kills whatever
 * is still running if a test file dies before its afterAll.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr, interleaved). */
  output(): string;
  readonly exited: boolean;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the group at once (a crash, as far as the others can tell). */
  kill(): Promise<void>;
}

const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const managed of running) signalGroup(managed.child, 'SIGKILL');
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

const MAX_OUTPUT_CHARS = 200_000;

export interface StartOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /**
   * Where stdout and stderr go instead of a pipe to this process (`output()` then reads the file): for
   * processes whose log lines would otherwise wake this one while it measures them.
   */
  outputFile?: string;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: StartOptions,
): ManagedProcess {
  installExitHook();
  const file = options.outputFile;
  const fd = file === undefined ? undefined : openSync(file, 'w');
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
    detached: true,
  });
  // The child holds its own copy of the descriptor.
  if (fd !== undefined) closeSync(fd);
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS / 2);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.on('exit', () => {
      exited = true;
      resolve();
    });
    child.on('error', (error) => {
      output += `\n[spawn error] ${error.message}\n`;
      exited = true;
      resolve();
    });
  });

  const managed: ManagedProcess = {
    name,
    child,
    output: () =>
      file === undefined ? output : `${readFileSync(file, 'utf8').slice(-MAX_OUTPUT_CHARS)}${output}`,
    get exited() {
      return exited;
    },
    async stop(graceMs = 5_000) {
      if (!exited) {
        signalGroup(child, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
      }
      // The group may outlive its leader (workerd under wrangler): make sure none of it stays.
      signalGroup(child, 'SIGKILL');
      running.delete(managed);
    },
    async kill() {
      signalGroup(child, 'SIGKILL');
      await exit;
      running.delete(managed);
    },
  };
  running.add(managed);
  return managed;
}
