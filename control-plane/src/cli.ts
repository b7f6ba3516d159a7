#!/usr/bin/env node
/**
 * `npx keyward <command>`: the operator's CLI over the same gRPC API as grpcurl.
 *   rotate [--emergency] [--secret-stdin]   rotate (the server generates the secret unless one comes on stdin)
 *   status                                  keyset versions, kids, expiry and edge push state
 *   revoke <kid>                            drop a previous key at once
 *   sign --secret-file F [--sub S] [--ttl 3600]   a test token (HS256, kid set), printed to stdout
 *   audit                                   checks the keyset chain and the audit log in Valkey (VALKEY_URL)
 *   keygen                                  fresh KEYSET_SIGNING_KEY, KEYSET_VERIFY_KEY and KEYSET_KEY, as env lines
 * ADMIN_TOKEN comes from the environment; KEYWARD_ADDRESS (default 127.0.0.1:50051) says where to call;
 * KEYWARD_TLS=1 (or GRPC_TLS_CA=<file>) uses TLS.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { encodeBase64url } from '../../shared/base64url.ts';
import { generateSigningPair } from '../../shared/keyset-signing-key.ts';
import { computeKid } from '../../shared/kid.ts';
import { auditValkey, describeAudit } from './audit/audit-command.ts';
import { connectSecretService, type UnaryCallOptions } from './grpc/secret-service-client.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    emergency: { type: 'boolean', default: false },
    'secret-stdin': { type: 'boolean', default: false },
    address: { type: 'string', default: process.env.KEYWARD_ADDRESS ?? '127.0.0.1:50051' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    'secret-file': { type: 'string' },
    sub: { type: 'string', default: 'demo-user' },
    ttl: { type: 'string', default: '3600' },
  },
});

const USAGE = `usage: keyward rotate [--emergency] [--secret-stdin] | status | revoke <kid>  [--address host:port] [--json]
       keyward sign --secret-file <file> [--sub <subject>] [--ttl <seconds>]
       keyward audit [--json]   (reads VALKEY_URL; exit code 1 when a chain is broken)
       keyward keygen
environment: ADMIN_TOKEN (required), KEYWARD_ADDRESS, KEYWARD_TLS=1, GRPC_TLS_CA=<pem file>`;

const [command, ...rest] = positionals;
if (values.help || !command) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}
if (command === 'sign') {
  if (!values['secret-file']) fail('sign needs --secret-file');
  const secret = readFileSync(values['secret-file'], 'utf8').trim();
  const token = await new SignJWT({ sub: values.sub })
    .setProtectedHeader({ alg: 'HS256', kid: await computeKid(secret), typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + Number(values.ttl))
    .sign(new TextEncoder().encode(secret));
  process.stdout.write(`${token}\n`);
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
      { new_secret: secret, generate: secret === '', emergency: values.emergency },
      callOptions,
    );
    print(response, response.message);
  } else if (command === 'status') {
    const keyset = await client.getKeyset({}, callOptions);
    const lines = [`keyset version ${keyset.version}`];
    for (const key of keyset.keys) {
      lines.push(
        `  ${key.status.padEnd(8)} v${key.secret_version} ${key.kid} created ${key.created_at}${key.expires_at ? ` expires ${key.expires_at}` : ''}`,
      );
    }
    for (const edge of keyset.edges) {
      lines.push(
        `  edge ${edge.url} confirmed v${edge.confirmed_version}${edge.last_error ? ` (${edge.last_error})` : ''}`,
      );
    }
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
