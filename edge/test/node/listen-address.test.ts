/**
 * Where the Node, Deno and Bun entries listen: PORT, and HOST defaulting to every interface (0.0.0.0, as the
 * control plane), so that an edge in a container is reachable; HOST=127.0.0.1 keeps it to loopback. Seen from
 * 127.0.0.2, a loopback address a socket bound to 127.0.0.1 does not answer but one bound to 0.0.0.0 does (Linux
 * routes all of 127.0.0.0/8 to the loopback interface), so no test leaves the machine.
 */
import { describe, expect, it } from 'vitest';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../../../test/support/edge-entry-commands.ts';
import { freePort } from '../../../test/support/free-port.ts';
import { KEYSET_VERIFY_KEY } from '../../../test/support/keysets.ts';
import { type ManagedProcess, startProcess } from '../../../test/support/managed-process.ts';
import { waitFor } from '../../../test/support/wait-for.ts';
import { DEFAULT_EDGE_HOST, DEFAULT_EDGE_PORT, listenAddress } from '../../src/runtime/listen-address.ts';

type Runtime = keyof typeof EDGE_ENTRY_COMMANDS;

describe('listenAddress', () => {
  it('defaults to PORT 8787 on every IPv4 interface', () => {
    expect(listenAddress({})).toEqual({ port: DEFAULT_EDGE_PORT, host: DEFAULT_EDGE_HOST });
    expect(DEFAULT_EDGE_HOST).toBe('0.0.0.0');
    expect(listenAddress({ PORT: '', HOST: '' })).toEqual({ port: 8787, host: '0.0.0.0' });
    expect(listenAddress({ PORT: '9000', HOST: '127.0.0.1' })).toEqual({ port: 9000, host: '127.0.0.1' });
    expect(listenAddress({ PORT: '0', HOST: '::' })).toEqual({ port: 0, host: '::' });
  });

  it.each(['abc', '-1', '65536', '80.5', '1e3', '123456'])('refuses PORT=%s naming it', (port) => {
    expect(() => listenAddress({ PORT: port })).toThrow(/^PORT: expected a port number from 0 to 65535/);
  });

  it('refuses a HOST that is no address', () => {
    expect(() => listenAddress({ HOST: 'http://edge' })).toThrow(/^HOST: /);
  });
});

function startEntry(runtime: Runtime, env: Record<string, string>): ManagedProcess {
  const [command, ...args] = EDGE_ENTRY_COMMANDS[runtime] as [string, ...string[]];
  return startProcess(`${runtime} edge`, command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYSET_VERIFY_KEY, ...env },
  });
}

/** GET /livez's status at `host`, or the connection error's code. */
async function livez(host: string, port: number): Promise<number | string> {
  try {
    return (await fetch(`http://${host}:${port}/livez`, { signal: AbortSignal.timeout(10_000) })).status;
  } catch (error) {
    return String((error as { cause?: { code?: string } }).cause?.code ?? error);
  }
}

describe.each(Object.keys(EDGE_ENTRY_COMMANDS) as Runtime[])('the %s entry', (runtime) => {
  it('listens on PORT on every interface without HOST, and on loopback only with HOST=127.0.0.1', async () => {
    for (const host of [undefined, '127.0.0.1']) {
      const port = await freePort();
      const child = startEntry(
        runtime,
        host === undefined ? { PORT: String(port) } : { PORT: String(port), HOST: host },
      );
      try {
        await waitFor(async () => ((await livez('127.0.0.1', port)) === 200 ? true : undefined), {
          what: `the ${runtime} edge on port ${port}`,
          timeoutMs: 90_000,
          intervalMs: 100,
        });
        expect(await livez('127.0.0.2', port)).toBe(host === undefined ? 200 : 'ECONNREFUSED');
      } finally {
        await child.stop();
      }
    }
  });

  it('stops at start-up on a bad PORT, naming it', async () => {
    const child = startEntry(runtime, { PORT: 'eighty' });
    try {
      await waitFor(async () => child.exited || undefined, {
        what: `the ${runtime} edge to stop`,
        timeoutMs: 90_000,
        intervalMs: 50,
      });
      expect(child.output()).toMatch(/PORT: expected a port number from 0 to 65535, got "eighty"/);
      expect(child.child.exitCode).not.toBe(0);
    } finally {
      await child.stop();
    }
  });
});
