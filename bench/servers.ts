/** Starts the HTTP servers the bench loads: the edge's Node and Bun entries and the bare baselines. */
import { fileURLToPath } from 'node:url';
import type { Keyset } from '../shared/keyset.ts';
import { sealKeyset } from '../shared/keyset-envelope.ts';
import type { BenchSecret } from './fixtures.ts';
import { type Child, spawnReady } from './processes.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUN = `${ROOT}node_modules/.bin/bun`;

export interface Server {
  name: string;
  runtime: 'node' | 'bun';
  child: Child;
  url: string;
}

/** Variables an edge must not inherit from the bench's own environment. */
const EDGE_ENV_CLEARED = {
  KEYSET_URL: '',
  UPSTASH_REDIS_REST_URL: '',
  UPSTASH_REDIS_REST_TOKEN: '',
  JWT_ISSUER: '',
  JWT_AUDIENCE: '',
  JWT_ALGORITHMS: 'HS256',
};

const PORT_LINE = /listening on (?:http:\/\/[^\s]*:|port )(\d+)/;

async function start(
  name: string,
  runtime: Server['runtime'],
  script: string,
  env: Record<string, string>,
): Promise<Server> {
  const command = runtime === 'node' ? process.execPath : BUN;
  const { child, match } = await spawnReady(name, command, [`${ROOT}${script}`], {
    cwd: ROOT,
    env: { ...EDGE_ENV_CLEARED, ...env, PORT: '0', HOST: '127.0.0.1' },
    ready: PORT_LINE,
  });
  return { name, runtime, child, url: `http://127.0.0.1:${match[1]}` };
}

/**
 * A Keyward edge (Node or Bun entry) holding `keyset`. The load sends one token over and over, so the
 * verified-token cache is off: every request pays a full verify, as the baselines do.
 */
export async function startEdge(
  name: string,
  runtime: Server['runtime'],
  script: string,
  keysetKey: string,
): Promise<Server> {
  return start(name, runtime, script, { KEYSET_KEY: keysetKey, VERIFY_CACHE_SIZE: '0' });
}

export async function pushKeyset(url: string, keyset: Keyset, key: Uint8Array): Promise<void> {
  const response = await fetch(`${url}/keyset`, {
    method: 'PUT',
    headers: { 'content-type': 'application/jose' },
    body: await sealKeyset(keyset, key),
  });
  if (response.status !== 200)
    throw new Error(`PUT ${url}/keyset: HTTP ${response.status} ${await response.text()}`);
}

export function startBareVerify(secretsNewestFirst: BenchSecret[]): Promise<Server> {
  return start('node bare node:http + raw verify', 'node', 'bench/servers/bare-node-verify.ts', {
    BENCH_SECRETS: JSON.stringify(secretsNewestFirst),
  });
}

export function startBareHono(runtime: Server['runtime']): Promise<Server> {
  return start(`${runtime} bare Hono (no verify)`, runtime, `bench/servers/bare-hono-${runtime}.ts`, {});
}
