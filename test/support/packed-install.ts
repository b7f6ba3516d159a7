/**
 * The production install as deploy/Dockerfile does it: `npm pack` of the checkout (prepack compiles dist/), the
 * tarball copied into an empty directory as keyward.tgz, and the Dockerfile's own `RUN npm install ...` command
 * run there. The command is read from the Dockerfile, so the test and the image install the same way.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');

/** The entries of the installed package, relative to the install directory (dist/ is what `npm run build` emits). */
export const CONTROL_PLANE_ENTRY = 'node_modules/keyward/dist/control-plane/src/main.js';
export const NODE_EDGE_ENTRY = 'node_modules/keyward/dist/edge/src/runtime/node.js';

const INSTALL_LINE = /^RUN (npm install [^&\n]*?)\s*(?:&&.*)?$/m;

/** The install command of deploy/Dockerfile's `RUN npm install ... && ...` line (up to the first `&&`). */
export async function dockerInstallCommand(): Promise<string> {
  const command = INSTALL_LINE.exec(await readFile(DOCKERFILE, 'utf8'))?.[1];
  if (command === undefined) throw new Error(`${DOCKERFILE} has no "RUN npm install ..." line`);
  return command;
}

/** The environment for npm: this process's, without the npm_* variables an `npm test` run would pass on. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')),
  );
}

export interface PackedInstall {
  /** The directory installed into (WORKDIR in the Dockerfile); the package is at node_modules/keyward. */
  dir: string;
  /** The command run there, as the Dockerfile has it. */
  command: string;
  /** `node_modules/.bin/keyward`. */
  bin: string;
  remove(): Promise<void>;
}

const NPM_TIMEOUT_MS = 120_000;

export async function packAndInstall(): Promise<PackedInstall> {
  const base = await mkdtemp(join(tmpdir(), 'keyward-install-'));
  const dir = join(base, 'app');
  await mkdir(dir);
  const env = npmEnv();
  await run('npm', ['pack', '--pack-destination', base], {
    cwd: ROOT,
    env,
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  const tarballs = (await readdir(base)).filter((name) => name.endsWith('.tgz'));
  if (tarballs.length !== 1) throw new Error(`npm pack left ${tarballs.length} tarballs in ${base}`);
  await rename(join(base, tarballs[0] as string), join(dir, 'keyward.tgz'));
  const command = await dockerInstallCommand();
  const [file, ...args] = command.split(/\s+/) as [string, ...string[]];
  await run(file, args, { cwd: dir, env, timeout: NPM_TIMEOUT_MS });
  await rm(join(dir, 'keyward.tgz'));
  return {
    dir,
    command,
    bin: join(dir, 'node_modules/.bin/keyward'),
    remove: () => rm(base, { recursive: true, force: true }),
  };
}

/** `du -sk` (following symbolic links given on the command line): kilobytes. */
export async function duKilobytes(path: string): Promise<number> {
  const { stdout } = await run('du', ['-skL', path], { timeout: NPM_TIMEOUT_MS });
  return Number(stdout.split('\t')[0]);
}
