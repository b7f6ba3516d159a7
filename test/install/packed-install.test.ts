/**
 * The production install, end to end: `npm pack` of this checkout installed with deploy/Dockerfile's command
 * (`npm install --omit=dev ...`) into an empty directory, then run from there alone: the installed `keyward` CLI
 * makes the keys, the control plane (on a real valkey-server, secrets as *_FILE) and a Node edge start from
 * node_modules/keyward/dist, the CLI rotates to an EdDSA key and signs with it, and the edge verifies the token.
 *
 * The install resolves the production dependencies from the npm cache (`--prefer-offline`): on a machine whose
 * cache lacks them (a fresh CI runner), the first run fetches them from the registry.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAt } from '../support/edge-http-client.ts';
import { freePort } from '../support/free-port.ts';
import { type ManagedProcess, startProcess } from '../support/managed-process.ts';
import {
  CONTROL_PLANE_ENTRY,
  duKilobytes,
  NODE_EDGE_ENTRY,
  type PackedInstall,
  packAndInstall,
  ROOT,
} from '../support/packed-install.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitForOutput } from '../support/wait-for-output.ts';

const run = promisify(execFile);

/** Packing compiles dist/ (tsc, ~15 s) and the install unpacks ~70 packages: more than the default hook time. */
const INSTALL_TIMEOUT_MS = 180_000;

/** Development tools that must not reach a production install. */
const DEV_ONLY = [
  'deno',
  'bun',
  'wrangler',
  'workerd',
  'miniflare',
  'typescript',
  'vitest',
  '@biomejs',
  'playwright-core',
];

let installed: PackedInstall;
let valkey: ValkeyServer;
const processes: ManagedProcess[] = [];

/** The installed CLI, run as an operator would (`npx keyward ...` in the install directory). */
async function keyward(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run('npx', ['--no-install', 'keyward', ...args], {
    cwd: installed.dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeout: 30_000,
  });
  return stdout;
}

beforeAll(async () => {
  installed = await packAndInstall();
  valkey = await startValkey();
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(processes.map((child) => child.stop()));
  await valkey?.stop();
  await installed?.remove();
});

describe('the packed package installed with --omit=dev', () => {
  it('carries compiled JavaScript and no development tools, at a fraction of the dev install', async () => {
    const modules = join(installed.dir, 'node_modules');
    const present = new Set(await readdir(modules));
    expect(DEV_ONLY.filter((name) => present.has(name))).toEqual([]);
    const packageFiles = await readdir(join(modules, 'keyward'), { recursive: true });
    expect(packageFiles.filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(packageFiles).toContain(join('dist', 'control-plane', 'src', 'main.js'));
    expect(packageFiles).toContain(join('dist', 'proto', 'secret_service.proto'));

    const installedKb = await duKilobytes(modules);
    const devKb = await duKilobytes(join(ROOT, 'node_modules'));
    console.log(
      `production install (${installed.command}): ${(installedKb / 1024).toFixed(1)} MB node_modules; ` +
        `dev install (npm ci): ${(devKb / 1024).toFixed(1)} MB`,
    );
    expect(installedKb).toBeLessThan(devKb / 10);
  });

  it('runs the CLI, the control plane and a Node edge from the install: rotate, sign, verify', async () => {
    const keys = Object.fromEntries(
      [...(await keyward(['keygen'])).matchAll(/^(KEYSET_\w+)=(\S+)$/gm)].map((match) => [
        match[1],
        match[2],
      ]),
    );
    expect(Object.keys(keys).sort()).toEqual(['KEYSET_KEY', 'KEYSET_SIGNING_KEY', 'KEYSET_VERIFY_KEY']);
    const secrets = join(installed.dir, 'secrets');
    await run('mkdir', ['-m', '700', secrets]);
    const file = async (name: string, value: string) => {
      await writeFile(join(secrets, name), `${value}\n`, { mode: 0o600 });
      return join(secrets, name);
    };
    const adminToken = randomBytes(48).toString('base64url');
    const adminTokenFile = await file('admin-token', adminToken);
    const secretEnv = {
      ADMIN_TOKEN_FILE: adminTokenFile,
      KEYSET_KEY_FILE: await file('keyset-key', keys.KEYSET_KEY as string),
      KEYSET_SIGNING_KEY_FILE: await file('keyset-signing-key', keys.KEYSET_SIGNING_KEY as string),
      VALKEY_URL_FILE: await file('valkey-url', valkey.url),
    };

    const edgePort = await freePort();
    const edge = startProcess('installed node edge', process.execPath, [NODE_EDGE_ENTRY], {
      cwd: installed.dir,
      env: {
        PATH: process.env.PATH,
        PORT: String(edgePort),
        HOST: '127.0.0.1',
        KEYSET_VERIFY_KEY: keys.KEYSET_VERIFY_KEY,
        KEYSET_KEY_FILE: secretEnv.KEYSET_KEY_FILE,
      },
    });
    processes.push(edge);
    await waitForOutput(edge, /keyward edge \(node\) listening/);
    const edgeUrl = `http://127.0.0.1:${edgePort}`;

    const controlPlane = startProcess('installed control plane', process.execPath, [CONTROL_PLANE_ENTRY], {
      cwd: installed.dir,
      env: {
        PATH: process.env.PATH,
        ...secretEnv,
        SECRET_STORAGE: 'valkey',
        EDGE_URLS: edgeUrl,
        ROTATION_INTERVAL: 'off',
        GRPC_PORT: '0',
        HTTP_PORT: '0',
        HOST: '127.0.0.1',
      },
    });
    processes.push(controlPlane);
    const listening = (await waitForOutput(controlPlane, /^.*control plane listening.*$/m))[0];
    const grpcPort = /"grpc_port":(\d+)/.exec(listening)?.[1];
    const httpPort = /"http_port":(\d+)/.exec(listening)?.[1];
    expect(grpcPort && httpPort, listening).toBeTruthy();
    const live = await fetch(`http://127.0.0.1:${httpPort}/livez`);
    expect(live.status).toBe(200);

    const cli = { ADMIN_TOKEN_FILE: adminTokenFile, KEYWARD_ADDRESS: `127.0.0.1:${grpcPort}` };
    const rotated = JSON.parse(await keyward(['rotate', '--alg', 'EdDSA', '--json'], cli)) as {
      kid: string;
      edges: { url: string; confirmed: boolean }[];
    };
    expect(rotated.edges).toEqual([expect.objectContaining({ url: edgeUrl, confirmed: true })]);

    const token = (
      await keyward(['sign', '--from-valkey', '--sub', 'packed'], { VALKEY_URL: valkey.url })
    ).trim();
    const answer = await verifyAt(edgeUrl, token);
    expect({
      status: answer.status,
      kid: answer.body.kid,
      sub: (answer.body.claims as { sub?: string } | undefined)?.sub,
    }).toEqual({
      status: 200,
      kid: rotated.kid,
      sub: 'packed',
    });

    expect(await keyward(['status'], cli)).toContain(rotated.kid);

    // The dashboard is served from the compiled package: its page, a script that parses, and its data.
    const dashboard = `http://127.0.0.1:${httpPort}/dashboard`;
    expect((await fetch(`${dashboard}/`)).status).toBe(200);
    const script = await fetch(`${dashboard}/app.js`);
    expect(script.status).toBe(200);
    const source = await script.text();
    expect(source).toContain('function dashboardClient');
    expect(() => new Script(source)).not.toThrow();
    const state = await fetch(`${dashboard}/state`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(await state.text()).toContain(rotated.kid);
  });
});
