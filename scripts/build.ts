/**
 * `npm run build` (run by `npm pack` as `prepack`): compiles control-plane/src, edge/src and shared into dist/ as
 * JavaScript, because Node strips types from .ts files everywhere except under node_modules, where an installed
 * package lives (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING). The checkout keeps running the .ts files directly;
 * dist/ is what the packed package carries. proto/ is copied next to the compiled code, where PROTO_PATH
 * (control-plane/src/grpc/proto.ts, relative to its own file) finds it. `node scripts/build.ts <dir>` writes to
 * <dir> (relative to the checkout) instead of dist/: the bench's memory breakdown runs a compiled copy from .tmp/.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

const outDir = resolve(root, process.argv[2] ?? 'dist');

rmSync(outDir, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], {
  cwd: root,
  stdio: 'inherit',
});
cpSync(`${root}/proto`, `${outDir}/proto`, { recursive: true });
