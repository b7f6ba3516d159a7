/** A real valkey-server on a free loopback port, without persistence, in a temporary directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { type ManagedProcess, startProcess } from './managed-process.ts';
import { waitFor } from './wait-for.ts';

export interface ValkeyServer {
  port: number;
  url: string;
  process: ManagedProcess;
  /** SIGKILL: the server disappears the way a crashed one does. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startValkey(): Promise<ValkeyServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'keyward-e2e-valkey-'));
  const server = startProcess(
    'valkey-server',
    'valkey-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { cwd: dir, env: process.env },
  );
  try {
    await waitFor(async () => ((await ping(port)) ? true : undefined), {
      what: `valkey-server on port ${port}`,
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  } catch (error) {
    await server.kill();
    throw new Error(`${(error as Error).message}\n${server.output()}`);
  }
  const cleanUp = () => rmSync(dir, { recursive: true, force: true });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: server,
    async kill() {
      await server.kill();
      cleanUp();
    },
    async stop() {
      await server.stop();
      cleanUp();
    },
  };
}

/** True when the server answers PING with PONG within a second. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}
