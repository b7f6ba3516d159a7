/**
 * `npm start`: the whole system on one machine with no external services. The control plane (env storage,
 * rotations in memory) and one edge worker under workerd (`wrangler dev`), wired together: the control plane
 * pushes to the edge, and the edge pulls from the control plane's /keyset when a push is missed.
 * Ctrl-C stops both.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../control-plane/src/config.ts';
import { startControlPlane } from '../control-plane/src/control-plane.ts';
import { createLogger } from '../control-plane/src/logger.ts';
import { generateSecret } from '../control-plane/src/rotation/generate-secret.ts';
import { encodeBase64url } from '../shared/base64url.ts';
import { importSigner, parseSigningSeed } from '../shared/keyset-signing-key.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const edgePort = Number(process.env.EDGE_PORT ?? 8787);
const edgeUrl = `http://127.0.0.1:${edgePort}`;
const grpcPort = process.env.GRPC_PORT ?? '50051';
const httpPort = process.env.HTTP_PORT ?? '8080';

// Demo credentials, made fresh for each run unless given. The secret goes to a file only this user can read,
// so the printed commands can sign tokens without the secret appearing on screen.
const demoDir = `${root}.tmp`;
mkdirSync(demoDir, { recursive: true });
const adminToken = process.env.ADMIN_TOKEN ?? randomBytes(48).toString('base64url');
const secret = process.env.JWT_SECRET ?? generateSecret();
const keysetKey = process.env.KEYSET_KEY ?? encodeBase64url(randomBytes(32));
// The edge is given the public half of the signing key, derived here so that a given KEYSET_SIGNING_KEY works too.
const signingKey = process.env.KEYSET_SIGNING_KEY ?? encodeBase64url(randomBytes(32));
const verifyKey = encodeBase64url((await importSigner(parseSigningSeed(signingKey))).publicKey);
const secretFile = `${demoDir}/demo-secret`;
writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });

const config = loadConfig({
  ...process.env,
  ADMIN_TOKEN: adminToken,
  SECRET_STORAGE: 'env',
  JWT_SECRET: secret,
  KEYSET_KEY: keysetKey,
  KEYSET_SIGNING_KEY: signingKey,
  EDGE_URLS: edgeUrl,
  GRPC_PORT: grpcPort,
  HTTP_PORT: httpPort,
  HOST: '127.0.0.1',
  ROTATION_INTERVAL: process.env.ROTATION_INTERVAL ?? 'off',
});
// Quiet while the edge starts (the first pushes fail until it listens); warnings on once it is up.
const logger = createLogger('error');
const controlPlane = await startControlPlane(config, logger);

const edge = spawn(
  process.execPath,
  [
    `${root}node_modules/wrangler/bin/wrangler.js`,
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(edgePort),
    '--var',
    `KEYSET_KEY:${keysetKey}`,
    '--var',
    `KEYSET_VERIFY_KEY:${verifyKey}`,
    '--var',
    `KEYSET_URL:http://127.0.0.1:${controlPlane.httpPort}/keyset`,
    '--show-interactive-dev-session=false',
  ],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
);
let edgeOutput = '';
edge.stdout.on('data', (chunk) => (edgeOutput += chunk));
edge.stderr.on('data', (chunk) => (edgeOutput += chunk));

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    edge.kill('SIGTERM');
    await controlPlane.stop();
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
edge.on('exit', (code) => {
  if (stopping) return;
  process.stderr.write(`edge worker (wrangler dev) exited with ${code}:\n${edgeOutput}\n`);
  void stop(1);
});

// Wait (bounded) for the edge, then push so it holds the keyset before we say it is ready.
const deadline = Date.now() + 60_000;
let version = 0;
while (Date.now() < deadline && version === 0) {
  try {
    await controlPlane.pusher.pushAll(await controlPlane.manager.keyset());
    const health = (await (await fetch(`${edgeUrl}/healthz`)).json()) as { keyset_version?: number };
    version = health.keyset_version ?? 0;
  } catch {
    // not up yet
  }
  if (version === 0) await new Promise((resolve) => setTimeout(resolve, 250));
}
if (version === 0) {
  process.stderr.write(`the edge worker did not come up within 60s:\n${edgeOutput}\n`);
  await stop(1);
}

logger.level = process.env.LOG_LEVEL ?? 'warn';
const cli = 'npx keyward';
process.stdout.write(`
Keyward is running (Ctrl-C stops everything).

  control plane gRPC   127.0.0.1:${controlPlane.grpcPort}   (cpc.orchestrator.SecretService, reflection on)
  control plane HTTP   http://127.0.0.1:${controlPlane.httpPort}   (/healthz, /keyset, /metrics)
  dashboard            http://127.0.0.1:${controlPlane.httpPort}/dashboard/   (live; sign in with the admin token below)
  edge worker          ${edgeUrl}   (workerd via wrangler dev; keyset version ${version})
  storage              env (rotations live in this process's memory)

Demo admin token (made for this run; set ADMIN_TOKEN to choose your own):
  export ADMIN_TOKEN=${adminToken}
  export KEYWARD_ADDRESS=127.0.0.1:${controlPlane.grpcPort}

Sign a test token with the demo secret (kept in ${secretFile}) and verify it at the edge:
  TOKEN=$(${cli} sign --secret-file ${secretFile} --sub alice)
  curl -s -X POST ${edgeUrl}/verify -H "Authorization: Bearer $TOKEN"
  curl -si ${edgeUrl}/verify -H "Authorization: Bearer $TOKEN"      # forward-auth form

Rotate (the old token keeps verifying for the grace period), then look:
  ${cli} rotate
  ${cli} status
  curl -s -X POST ${edgeUrl}/verify -H "Authorization: Bearer $TOKEN"

Rotate to a secret you hold, and sign with it:
  openssl rand -base64 48 > ${demoDir}/new-secret && ${cli} rotate --secret-stdin < ${demoDir}/new-secret
  TOKEN=$(${cli} sign --secret-file ${demoDir}/new-secret --sub bob)

Emergency rotation (every earlier secret stops verifying at once):
  ${cli} rotate --emergency
`);
