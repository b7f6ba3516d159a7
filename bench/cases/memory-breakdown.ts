/**
 * What the idle RSS of the Node edge and of the control plane is made of: each process below started fresh,
 * left idle once it listens, then read from outside (/proc: RSS, split into anonymous memory and mapped file
 * pages, for Node mostly its own binary) and from inside (process.memoryUsage() after a full collection, through
 * the preload bench/support/idle-memory-probe.cjs, which leaves the shipped code as it is). Plain node:http in
 * JavaScript is the floor; each library the edge loads is added alone, then all of them; then the edge compiled
 * to JavaScript (what the packed package runs, built by scripts/build.ts into .tmp/, dist/ untouched) and from
 * its TypeScript sources (the checkout, types stripped by Node at load), and compiled with jose and @upstash/redis
 * resolved to empty stand-ins (what loading them only when used would save); the same for the control plane, with
 * in-memory storage (SECRET_STORAGE=env), no edges and no Valkey. One process at a time.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSecret } from '../../control-plane/src/rotation/generate-secret.ts';
import { KEYSET_KEY, KEYSET_VERIFY_KEY } from '../../test/support/keysets.ts';
import { startProcess } from '../../test/support/managed-process.ts';
import { rssBytes, rssPartsBytes } from '../../test/support/process-stats.ts';
import { sleep } from '../../test/support/wait-for.ts';
import { waitForOutput } from '../../test/support/wait-for-output.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('../support/idle-memory-probe.cjs', import.meta.url));
const STUB_LIBRARIES = fileURLToPath(new URL('../support/stub-edge-libraries.mjs', import.meta.url));
/** Inside the checkout, so that the compiled files find node_modules and the package's "type": "module". */
const BUILD_DIR = '.tmp/bench-memory-build';

export interface IdleMemory {
  name: string;
  /** The row this one is compared with (its `adds` figures are over that row); undefined for the floor. */
  over: string | undefined;
  rssBytes: number;
  rssAnonBytes: number;
  rssFileBytes: number;
  heapTotalBytes: number;
  heapUsedBytes: number;
  /** Memory of C++ objects bound to JavaScript ones, Buffers included. */
  externalBytes: number;
}

export interface MemoryBreakdown {
  settleMs: number;
  rounds: number;
  buildMs: number;
  processes: IdleMemory[];
}

interface IdleProcessSpec {
  name: string;
  over?: string;
  args: string[];
  env?: Record<string, string>;
  listening: RegExp;
}

/** The third-party modules the Node edge imports, by the specifiers it imports them with. */
const EDGE_LIBRARIES: Record<string, string[]> = {
  hono: ['hono/hono-base', 'hono/router/trie-router'],
  jose: ['jose'],
  '@upstash/redis': ['@upstash/redis'],
  '@hono/node-server': ['@hono/node-server'],
};
const CONTROL_PLANE_LIBRARIES = [
  '@grpc/grpc-js',
  '@grpc/proto-loader',
  '@grpc/reflection',
  'grpc-health-check',
  '@hono/node-server',
  'hono',
  'iovalkey',
  'jose',
  'pino',
  'prom-client',
  'zod',
];
const PLAIN = 'node:http, plain JavaScript';
const LISTENING = /^listening$/m;

/** `node -e`: CommonJS, the modules loaded with import() (resolved from the checkout), then a bare listen. */
function plainServer(name: string, modules: string[], over?: string): IdleProcessSpec {
  const loads =
    modules.length === 0
      ? 'Promise.resolve()'
      : `Promise.all(${JSON.stringify(modules)}.map((m) => import(m)))`;
  const listen = `require('node:http').createServer().listen(0, '127.0.0.1', () => console.log('listening'))`;
  return { name, over, args: ['-e', `${loads}.then(() => ${listen})`], listening: LISTENING };
}

function specs(): IdleProcessSpec[] {
  const edgeEnv = { PORT: '0', HOST: '127.0.0.1', KEYSET_KEY, KEYSET_VERIFY_KEY };
  const controlPlaneEnv = {
    ADMIN_TOKEN: generateSecret(),
    SECRET_STORAGE: 'env',
    JWT_SECRET: generateSecret(),
    ROTATION_INTERVAL: 'off',
    GRPC_PORT: '0',
    HTTP_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
  const edgeLibraries = Object.values(EDGE_LIBRARIES).flat();
  return [
    plainServer(PLAIN, []),
    // Node's fetch, Request and Response are its bundled undici, loaded on first use of any of them.
    {
      ...plainServer('+ Request/Response globals touched (undici)', [], PLAIN),
      args: [
        '-e',
        `globalThis.Request; globalThis.Response; require('node:http').createServer().listen(0, '127.0.0.1', () => console.log('listening'))`,
      ],
    },
    ...Object.entries(EDGE_LIBRARIES).map(([name, modules]) => plainServer(`+ ${name}`, modules, PLAIN)),
    plainServer('+ all four edge libraries', edgeLibraries, PLAIN),
    {
      name: 'Node edge, compiled (dist/, the package)',
      over: '+ all four edge libraries',
      args: [join(ROOT, BUILD_DIR, 'edge/src/runtime/node.js')],
      env: edgeEnv,
      listening: /keyward edge \(node\) listening/,
    },
    {
      name: 'Node edge, compiled, jose and @upstash/redis stubbed',
      over: 'Node edge, compiled (dist/, the package)',
      args: ['--import', STUB_LIBRARIES, join(ROOT, BUILD_DIR, 'edge/src/runtime/node.js')],
      env: edgeEnv,
      listening: /keyward edge \(node\) listening/,
    },
    {
      name: 'Node edge, from .ts (the checkout)',
      over: 'Node edge, compiled (dist/, the package)',
      args: [join(ROOT, 'edge/src/runtime/node.ts')],
      env: edgeEnv,
      listening: /keyward edge \(node\) listening/,
    },
    {
      name: 'bench/servers/bare-node.ts (the HTTP floor)',
      over: PLAIN,
      args: [join(ROOT, 'bench/servers/bare-node.ts')],
      env: { PORT: '0', BENCH_ANSWER: JSON.stringify({ kid: 'k', claims: {} }) },
      listening: /bare node:http listening/,
    },
    plainServer('+ the control plane libraries', CONTROL_PLANE_LIBRARIES, PLAIN),
    {
      name: 'control plane, compiled (dist/)',
      over: '+ the control plane libraries',
      args: [join(ROOT, BUILD_DIR, 'control-plane/src/main.js')],
      env: controlPlaneEnv,
      listening: /control plane listening/,
    },
    {
      name: 'control plane, from .ts (the checkout)',
      over: 'control plane, compiled (dist/)',
      args: [join(ROOT, 'control-plane/src/main.ts')],
      env: controlPlaneEnv,
      listening: /control plane listening/,
    },
  ];
}

async function measureOnce(spec: IdleProcessSpec, settleMs: number): Promise<IdleMemory> {
  const child = startProcess(spec.name, process.execPath, ['--expose-gc', '--require', PROBE, ...spec.args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...spec.env },
  });
  try {
    await waitForOutput(child, spec.listening);
    await sleep(settleMs);
    const pid = child.child.pid;
    const rss = rssBytes(pid);
    const parts = rssPartsBytes(pid);
    if (pid !== undefined) process.kill(pid, 'SIGUSR2');
    const line = await waitForOutput(child, /^idle-memory (\{.*\})$/m);
    const usage = JSON.parse(line[1] as string) as NodeJS.MemoryUsage;
    return {
      name: spec.name,
      over: spec.over,
      rssBytes: rss,
      rssAnonBytes: parts.anon,
      rssFileBytes: parts.file,
      heapTotalBytes: usage.heapTotal,
      heapUsedBytes: usage.heapUsed,
      externalBytes: usage.external,
    };
  } finally {
    await child.stop();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** Every process of specs(), `rounds` times in turn (rows interleaved), the median of each figure. */
export async function measureMemoryBreakdown(options: {
  settleMs: number;
  rounds: number;
  log: (line: string) => void;
}): Promise<MemoryBreakdown> {
  const buildStarted = Date.now();
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.ts'), BUILD_DIR], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const buildMs = Date.now() - buildStarted;
  const all = specs();
  const samples = new Map<string, IdleMemory[]>(all.map((spec) => [spec.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const spec of all) samples.get(spec.name)?.push(await measureOnce(spec, options.settleMs));
  }
  options.log(`  ${all.length} processes x ${options.rounds} rounds, build ${buildMs} ms`);
  const processes = all.map((spec) => {
    const runs = samples.get(spec.name) ?? [];
    const of = (field: keyof Omit<IdleMemory, 'name' | 'over'>) => median(runs.map((run) => run[field]));
    return {
      name: spec.name,
      over: spec.over,
      rssBytes: of('rssBytes'),
      rssAnonBytes: of('rssAnonBytes'),
      rssFileBytes: of('rssFileBytes'),
      heapTotalBytes: of('heapTotalBytes'),
      heapUsedBytes: of('heapUsedBytes'),
      externalBytes: of('externalBytes'),
    };
  });
  return { settleMs: options.settleMs, rounds: options.rounds, buildMs, processes };
}
