#!/usr/bin/env node
/**
 * `npx keyward <command>`: the operator's CLI over the same gRPC API as grpcurl.
 *   rotate [--alg A] [--emergency] [--secret-stdin]   rotate (the server generates the key unless an HS256 secret
 *                                           comes on stdin); A is HS256 (default), ES256 or EdDSA
 *   stage --alg A [--secret-file F]         add a standby key (HS256 may take a secret; key pairs are generated)
 *   promote --kid K [--force] [--emergency] make the standby key active (force: without every edge confirmed)
 *   status                                  keyset versions, kids, algorithms, status, expiry; per edge the
 *                                           version and kids it holds, when it last confirmed, its clock offset;
 *                                           the scheduled rotation (staged, due, blocked by which edges)
 *   revoke <kid>                            drop a previous or standby key at once
 *   sign (--jwk F | --from-valkey | --secret-file F) [--sub S] [--ttl 3600]   a test token, printed to stdout
 *   audit                                   checks the keyset chain and the audit log in Valkey (VALKEY_URL)
 *   keygen                                  fresh KEYSET_SIGNING_KEY, KEYSET_VERIFY_KEY and KEYSET_KEY, as env lines
 * ADMIN_TOKEN comes from the environment; KEYWARD_ADDRESS (default 127.0.0.1:50051) says where to call;
 * KEYWARD_TLS=1 (or GRPC_TLS_CA=<file>) uses TLS.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { encodeBase64url } from '../../shared/base64url.ts';
import { generateSigningPair } from '../../shared/keyset-signing-key.ts';
import { auditValkey, describeAudit } from './audit/audit-command.ts';
import { connectSecretService, type UnaryCallOptions } from './grpc/secret-service-client.ts';
import { edgeStatusLine } from './push/edge-status-line.ts';
import { scheduleLine } from './rotation/rotation-status.ts';
import { parsePrivateJwk, SigningKeyError, signWithJwk } from './sign-token.ts';
import { createValkeyClient } from './storage/valkey-client.ts';

/** SPEC section 8: the active key as a private JWK, for issuers. */
const SIGNING_KEY = 'jwt_secrets:signing_key';

const OPTIONS = {
  emergency: { type: 'boolean', default: false },
  'secret-stdin': { type: 'boolean', default: false },
  address: { type: 'string', default: process.env.KEYWARD_ADDRESS ?? '127.0.0.1:50051' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  'secret-file': { type: 'string' },
  jwk: { type: 'string' },
  'from-valkey': { type: 'boolean', default: false },
  alg: { type: 'string' },
  kid: { type: 'string' },
  force: { type: 'boolean', default: false },
  sub: { type: 'string', default: 'demo-user' },
  ttl: { type: 'string', default: '3600' },
} as const;

/**
 * `--kid -AbC…` as `--kid=-AbC…`: a kid is base64url and may start with a dash, which parseArgs would otherwise
 * take for an option and refuse. Every string option takes the next argument as its value, whatever it looks like.
 */
function joinOptionValues(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    const option = (OPTIONS as Record<string, { type: string }>)[name];
    if (option?.type === 'string' && i + 1 < args.length) joined.push(`${arg}=${args[++i]}`);
    else joined.push(arg);
  }
  return joined;
}

function parseCommandLine() {
  try {
    return parseArgs({
      args: joinOptionValues(process.argv.slice(2)),
      allowPositionals: true,
      options: OPTIONS,
    });
  } catch (error) {
    process.stderr.write(`keyward: ${(error as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  }
}

const { values, positionals } = parseCommandLine();

const USAGE = `usage: keyward rotate [--alg HS256|ES256|EdDSA] [--emergency] [--secret-stdin]  [--address host:port] [--json]
       keyward stage --alg HS256|ES256|EdDSA [--secret-file <file>]
       keyward promote --kid <kid> [--force] [--emergency]
       keyward status | revoke <kid>
       keyward sign (--jwk <private JWK file> | --from-valkey | --secret-file <file>) [--sub <subject>] [--ttl <seconds>]
       keyward audit [--json]   (reads VALKEY_URL; exit code 1 when a chain is broken)
       keyward keygen
environment: ADMIN_TOKEN (required), KEYWARD_ADDRESS, KEYWARD_TLS=1, GRPC_TLS_CA=<pem file>`;

const [command, ...rest] = positionals;
if (values.help || !command) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}
if (command === 'sign') {
  const sources = [values.jwk, values['from-valkey'] || undefined, values['secret-file']].filter(Boolean);
  if (sources.length !== 1)
    fail('sign needs exactly one of --jwk <file>, --from-valkey, --secret-file <file>');
  const ttlSeconds = Number(values.ttl);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)
    fail('--ttl must be a positive number of seconds');
  try {
    const jwk = values['secret-file']
      ? { kty: 'oct', alg: 'HS256', k: encodeBase64url(readSecretFile(values['secret-file'])) }
      : values.jwk
        ? parsePrivateJwk(readText(values.jwk), values.jwk)
        : parsePrivateJwk(await readSigningKeyFromValkey(), SIGNING_KEY);
    process.stdout.write(`${await signWithJwk(jwk, { sub: values.sub as string, ttlSeconds })}\n`);
  } catch (error) {
    fail(error instanceof SigningKeyError ? error.message : `signing failed: ${(error as Error).message}`);
  }
  process.exit(0);
}
if (command === 'audit') {
  if (!process.env.VALKEY_URL) fail('audit reads Valkey: VALKEY_URL is not set');
  const report = await auditValkey(process.env.VALKEY_URL).catch((error: Error) =>
    fail(`reading Valkey failed: ${error.message}`),
  );
  print(report, describeAudit(report));
  process.exit(report.ok ? 0 : 1);
}

if (command === 'keygen') {
  const { signingKey, verifyKey } = await generateSigningPair();
  const keysetKey = encodeBase64url(crypto.getRandomValues(new Uint8Array(32)));
  process.stdout.write(
    `# control plane only (a secret):\nKEYSET_SIGNING_KEY=${signingKey}\n` +
      `# every edge (public, not a secret):\nKEYSET_VERIFY_KEY=${verifyKey}\n` +
      `# control plane and every edge (a secret):\nKEYSET_KEY=${keysetKey}\n`,
  );
  process.exit(0);
}
const adminToken = process.env.ADMIN_TOKEN;
if (!adminToken) fail('ADMIN_TOKEN is not set');

const tls = process.env.KEYWARD_TLS === '1' || Boolean(process.env.GRPC_TLS_CA);
const channel = tls
  ? credentials.createSsl(process.env.GRPC_TLS_CA ? readFileSync(process.env.GRPC_TLS_CA) : null)
  : credentials.createInsecure();
const client = connectSecretService(values.address as string, channel);
const callOptions: UnaryCallOptions = { bearer: adminToken, deadlineMs: 30_000 };

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The HS256 key is the UTF-8 bytes of the secret text as written (SPEC section 5), without the newline. */
function readSecretFile(file: string): Uint8Array {
  return new TextEncoder().encode(readText(file).trim());
}

/** A plain GET of jwt_secrets:signing_key at VALKEY_URL. */
async function readSigningKeyFromValkey(): Promise<string> {
  const url = process.env.VALKEY_URL;
  if (!url) fail('--from-valkey reads VALKEY_URL, which is not set');
  const client = createValkeyClient({ url }, { connectTimeout: 5_000, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
    const value = await client.get(SIGNING_KEY);
    if (value === null) fail(`${SIGNING_KEY} is not set in Valkey`);
    return value;
  } catch (error) {
    fail(`reading ${SIGNING_KEY} from Valkey failed: ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}

function fail(message: string): never {
  process.stderr.write(`keyward: ${message}\n`);
  process.exit(1);
}

function print(value: unknown, text: string): void {
  process.stdout.write(values.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

try {
  if (command === 'rotate') {
    const secret = values['secret-stdin'] ? readFileSync(0, 'utf8').trim() : '';
    const response = await client.rotateSecret(
      { new_secret: secret, generate: secret === '', emergency: values.emergency, alg: values.alg ?? '' },
      callOptions,
    );
    print(response, response.message);
  } else if (command === 'stage') {
    if (!values.alg) fail('stage needs --alg HS256|ES256|EdDSA');
    const secret = values['secret-file'] ? readText(values['secret-file']).trim() : '';
    const response = await client.stageKey({ alg: values.alg, new_secret: secret }, callOptions);
    print(response, `${response.message}\nkid ${response.kid}`);
  } else if (command === 'promote') {
    if (!values.kid) fail('promote needs --kid <kid> (the standby key, see keyward status)');
    const response = await client.promoteKey(
      { kid: values.kid, force: values.force, emergency: values.emergency },
      callOptions,
    );
    print(response, response.message);
  } else if (command === 'status') {
    const keyset = await client.getKeyset({}, callOptions);
    const lines = [`keyset version ${keyset.version}`];
    for (const key of keyset.keys) {
      lines.push(
        `  ${key.status.padEnd(8)} ${key.alg.padEnd(5)} v${key.secret_version} ${key.kid} created ${key.created_at}${key.expires_at ? ` expires ${key.expires_at}` : ''}`,
      );
    }
    for (const edge of keyset.edges) lines.push(`  ${edgeStatusLine(edge, keyset.keys, Date.now())}`);
    const schedule = scheduleLine(keyset.schedule);
    if (schedule !== null) lines.push(schedule);
    print(keyset, lines.join('\n'));
  } else if (command === 'revoke') {
    if (!rest[0]) fail('revoke needs a kid');
    const response = await client.revokeKey({ kid: rest[0] }, callOptions);
    print(response, response.message);
  } else {
    fail(`unknown command "${command}"\n${USAGE}`);
  }
} catch (error) {
  const serviceError = error as ServiceError;
  fail(`${serviceError.details ?? serviceError.message} (gRPC code ${serviceError.code})`);
} finally {
  client.close();
}
