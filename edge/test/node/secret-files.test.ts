/** KEYSET_KEY_FILE on the real Node, Deno and Bun entries: the key read from a mounted file, or start-up stops. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKid } from '../../../shared/kid.ts';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../../../test/support/edge-entry-commands.ts';
import { putKeyset, verifyAt } from '../../../test/support/edge-http-client.ts';
import {
  type EdgeOptions,
  type EdgeProcess,
  type EdgeProcessRuntime,
  startBunEdge,
  startDenoEdge,
  startNodeEdge,
} from '../../../test/support/edge-processes.ts';
import {
  buildKeyset,
  epochSeconds,
  KEYSET_KEY,
  KEYSET_VERIFY_KEY,
  seal,
  secret,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { startProcess } from '../../../test/support/managed-process.ts';
import { waitFor } from '../../../test/support/wait-for.ts';

const START: Record<
  'node' | 'deno' | 'bun',
  (options: EdgeOptions) => Promise<EdgeProcess<EdgeProcessRuntime>>
> = { node: startNodeEdge, deno: startDenoEdge, bun: startBunEdge };
const ACTIVE = secret('file-active');

let dir: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyward-edge-secret-files-'));
  keyFile = join(dir, 'keyset-key');
  await writeFile(keyFile, `${KEYSET_KEY}\n`);
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe.each(Object.keys(START) as ('node' | 'deno' | 'bun')[])('the %s entry', (runtime) => {
  it('reads KEYSET_KEY from KEYSET_KEY_FILE and opens an encrypted keyset with it', async () => {
    const edge = await START[runtime]({ env: { KEYSET_KEY_FILE: keyFile } });
    try {
      expect((await putKeyset(edge.url, await seal(await buildKeyset(1, ACTIVE)))).status).toBe(200);
      const kid = await computeKid(ACTIVE);
      const token = await signWithJose(ACTIVE, { sub: 'file', exp: epochSeconds(Date.now()) + 60 }, { kid });
      expect(await verifyAt(edge.url, token)).toMatchObject({ status: 200, body: { valid: true, kid } });
      expect(edge.process.output().includes(KEYSET_KEY)).toBe(false);
    } finally {
      await edge.stop();
    }
  });

  it.each([
    [
      'a missing file: names KEYSET_KEY_FILE and the path',
      { KEYSET_KEY_FILE: 'MISSING' },
      /KEYSET_KEY_FILE: cannot read \S+absent \(ENOENT\)/,
    ],
    [
      'both set: names both',
      { KEYSET_KEY_FILE: 'KEYFILE', KEYSET_KEY },
      /KEYSET_KEY: set KEYSET_KEY or KEYSET_KEY_FILE, not both/,
    ],
  ])('stops at start-up on %s', async (_, variables, message) => {
    const env: Record<string, string | undefined> = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      HOST: '127.0.0.1',
      KEYSET_VERIFY_KEY,
      ...variables,
    };
    if (env.KEYSET_KEY_FILE === 'MISSING') env.KEYSET_KEY_FILE = join(dir, 'absent');
    if (env.KEYSET_KEY_FILE === 'KEYFILE') env.KEYSET_KEY_FILE = keyFile;
    const [command, ...args] = EDGE_ENTRY_COMMANDS[runtime] as [string, ...string[]];
    const child = startProcess(`${runtime} edge`, command, args, { cwd: REPO_ROOT, env });
    try {
      await waitFor(async () => child.exited || undefined, {
        what: `the ${runtime} edge to stop`,
        timeoutMs: 90_000,
        intervalMs: 50,
      });
      expect(child.output()).toMatch(message);
      expect(child.child.exitCode).not.toBe(0);
    } finally {
      await child.stop();
    }
  });
});
