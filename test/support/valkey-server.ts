/** A real valkey-server on a free loopback port, for tests. Needs `valkey-server` on PATH. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { freePort } from './free-port.ts';

export interface ValkeyServer {
  port: number;
  /** `redis://127.0.0.1:<port>`, or `rediss://` when started with `tls`. */
  url: string;
  dir: string;
  /** SIGTERM and wait for exit; removes `dir` if startValkey created it. */
  stop(): Promise<void>;
  /** Sends `signal` (SIGKILL by default: a crash) and waits for the exit; keeps `dir` for a restart. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops (if running) and starts again on the same port, dir and arguments. */
  restart(): Promise<void>;
}

export interface StartValkeyOptions {
  /** Extra valkey-server arguments, after the defaults (so they override them). */
  args?: string[];
  /** Working directory (RDB/AOF files); a fresh temporary one by default. */
  dir?: string;
  /**
   * TLS only: the plain port is closed (`--port 0`) and `port` is the TLS port. Paths of PEM files; clients
   * are not asked for certificates (`--tls-auth-clients no`).
   */
  tls?: { certPath: string; keyPath: string; caCertPath: string };
}

const READY_ATTEMPTS = 200;
const READY_INTERVAL_MS = 25;

export async function startValkey(options: StartValkeyOptions = {}): Promise<ValkeyServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'keyward-valkey-')));
  const port = await freePort();
  const tls = options.tls;
  const listen = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.certPath,
        '--tls-key-file',
        tls.keyPath,
        '--tls-ca-cert-file',
        tls.caCertPath,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const ca = tls ? await readFile(tls.caCertPath) : undefined;
  const args = [
    ...listen,
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    output = '';
    const proc = spawn('valkey-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    const spawnError = new Promise<never>((_, reject) => proc.once('error', reject));
    for (let i = 0; i < READY_ATTEMPTS; i++) {
      if (proc.exitCode !== null) throw new Error(`valkey-server exited (${proc.exitCode}): ${output}`);
      if (await Promise.race([ping(port, ca), spawnError])) return;
      await new Promise((resolve) => setTimeout(resolve, READY_INTERVAL_MS));
    }
    proc.kill('SIGKILL');
    throw new Error(`valkey-server did not answer PING on port ${port}: ${output}`);
  };

  const stopProcess = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    port,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    dir,
    async stop() {
      await stopProcess();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    kill(signal = 'SIGKILL') {
      return stopProcess(signal);
    },
    async restart() {
      await stopProcess();
      await start();
    },
  };
}

/** True when something on `port` answers PING with PONG (over TLS, trusting `ca`, when `ca` is given). */
export function ping(port: number, ca?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = ca ? connectTls({ port, host: '127.0.0.1', ca }) : connect({ port, host: '127.0.0.1' });
    const ready = ca ? 'secureConnect' : 'connect';
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once(ready, () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}
