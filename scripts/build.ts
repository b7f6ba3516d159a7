/**
 * `npm run build` (run by `npm pack` as `prepack`): compiles control-plane/src, edge/src and shared into dist/ as
 * JavaScript, because Node strips types from .ts files everywhere except under node_modules, where an installed
 * package lives (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING). The checkout keeps running the .ts files directly;
 * dist/ is what the packed package carries. proto/ is copied next to the compiled code, where PROTO_PATH
 * (control-plane/src/grpc/proto.ts, relative to its own file) finds it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

rmSync(`${root}/dist`, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
cpSync(`${root}/proto`, `${root}/dist/proto`, { recursive: true });
