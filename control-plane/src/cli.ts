#!/usr/bin/env node
/**
 * `npx keyward <command>`: the operator's CLI over the same gRPC API as grpcurl. The commands, their options and
 * the exit codes are in cli/commands.ts and cli/outcome.ts (`keyward --help` prints them). Every failure ends in
 * one line on stderr (or `{"error": ...}` on stdout with --json) and a documented exit code, never a stack trace.
 * ADMIN_TOKEN (or ADMIN_TOKEN_FILE) comes from the environment; KEYWARD_ADDRESS (default 127.0.0.1:50051) says where to call;
 * KEYWARD_TLS=1 (or GRPC_TLS_CA=<file>) uses TLS.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { encodeBase64url } from '../../shared/base64url.ts';
import { generateSigningPair } from '../../shared/keyset-signing-key.ts';
import { auditValkey, describeAudit } from './audit/audit-command.ts';
import { COMMANDS, type CommandSpec, commandHelp, GENERAL_USAGE, generalHelp } from './cli/commands.ts';
import { asCliError, CliError, EXIT, firstLine, grpcFailure, usageError } from './cli/outcome.ts';
import type { EdgePushResult } from './grpc/proto.ts';
import { connectSecretService, type UnaryCallOptions } from './grpc/secret-service-client.ts';
import { edgeStatusLine } from './push/edge-status-line.ts';
import { scheduleLine } from './rotation/rotation-status.ts';
import { parsePrivateJwk, SigningKeyError, signWithJwk } from './sign-token.ts';
import { createValkeyClient } from './storage/valkey-client.ts';

/** SPEC section 8: the active key as a private JWK, for issuers. */
const SIGNING_KEY = 'jwt_secrets:signing_key';

const argv = process.argv.slice(2);
/** Known before parsing, so that even a usage error answers in JSON. */
const wantsJson = argv.includes('--json');
const commandName = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
const spec: CommandSpec | undefined = commandName === undefined ? undefined : COMMANDS[commandName];

/** Writes the failure (one line, with the usage) and exits with its code. */
function exitWith(error: CliError): never {
  const usage = spec?.usage ?? GENERAL_USAGE;
  if (wantsJson) {
    process.stdout.write(
      `${JSON.stringify({ error: { code: error.code, message: error.message, exit: EXIT[error.kind] } })}\n`,
    );
  } else {
    process.stderr.write(`keyward: ${firstLine(error.message)} (usage: ${usage})\n`);
  }
  process.exit(EXIT[error.kind]);
}

process.on('uncaughtException', (error) => exitWith(asCliError(error)));
process.on('unhandledRejection', (error) => exitWith(asCliError(error)));

/**
 * `--kid -AbC…` as `--kid=-AbC…`: a kid is base64url and may start with a dash, which parseArgs would otherwise
 * take for an option and refuse. Every string option takes the next argument as its value, whatever it looks like.
 */
function joinOptionValues(args: string[], options: CommandSpec['options']): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const name = arg.startsWith('--') ? arg.slice(2) : '';
    if (options[name]?.type === 'string' && i + 1 < args.length) joined.push(`${arg}=${args[++i]}`);
    else joined.push(arg);
  }
  return joined;
}

/** parseArgs' own messages, shortened to what was wrong. */
function describeParseError(error: { code?: string; message: string }): string {
  const option = /'([^']+)'/.exec(error.message)?.[1]?.split(/[ ,]/)[0];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option ?? ''}`.trim();
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /argument missing/.test(error.message)
      ? `option ${option ?? ''} needs a value`.replace('  ', ' ')
      : `option ${option ?? ''} takes no value`.replace('  ', ' ');
  }
  return firstLine(error.message);
}

/**
 * A kid given as a positional (`keyward revoke -AbC…`) may start with a dash too: an argument of one dash and more
 * than one letter (no command has bundled short flags) is held aside while parseArgs runs and put back among the
 * positionals.
 */
function parseCommandLine(command: CommandSpec) {
  const held = new Map<string, string>();
  const args = joinOptionValues(argv.slice(1), command.options).map((arg, index) => {
    if (!/^-[^-]./.test(arg)) return arg;
    const placeholder = `\u0000${index}`;
    held.set(placeholder, arg);
    return placeholder;
  });
  try {
    const parsed = parseArgs({ args, allowPositionals: true, strict: true, options: command.options });
    return { ...parsed, positionals: parsed.positionals.map((value) => held.get(value) ?? value) };
  } catch (error) {
    exitWith(usageError(describeParseError(error as { code?: string; message: string })));
  }
}

if (spec === undefined) {
  if (commandName !== undefined) exitWith(usageError(`unknown command "${commandName}"`));
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${generalHelp()}\n`);
    process.exit(EXIT.ok);
  }
  if (argv.length === 0) {
    process.stderr.write(`${generalHelp()}\n`);
    process.exit(EXIT.usage);
  }
  exitWith(usageError(`no command given (options go after it): ${argv[0]}`));
}

const { values, positionals } = parseCommandLine(spec);
if (values.help) {
  process.stdout.write(`${commandHelp(commandName as string, spec)}\n`);
  process.exit(EXIT.ok);
}
const args = positionals;
if (args.length < spec.positionals.length)
  exitWith(usageError(`${commandName} needs <${spec.positionals[args.length]}>`));
if (args.length > spec.positionals.length)
  exitWith(usageError(`unexpected argument "${args[spec.positionals.length]}"`));

const text = (name: string) => values[name] as string | undefined;
const flag = (name: string) => values[name] === true;

function print(value: unknown, lines: string): void {
  process.stdout.write(values.json ? `${JSON.stringify(value, null, 2)}\n` : `${lines}\n`);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** Standard input to its end, by descriptor (a pipe or a socket, which /dev/stdin cannot always be opened as). */
function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (error) {
    throw usageError(
      `cannot read stdin: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** The HS256 key is the UTF-8 bytes of the secret text as written (SPEC section 5), without the newline. */
function readSecretFile(file: string): Uint8Array {
  return new TextEncoder().encode(readText(file).trim());
}

/** A plain GET of jwt_secrets:signing_key at VALKEY_URL. */
async function readSigningKeyFromValkey(): Promise<string> {
  const url = process.env.VALKEY_URL;
  if (!url) throw usageError('--from-valkey reads VALKEY_URL, which is not set');
  const client = createValkeyClient({ url }, { connectTimeout: 5_000, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  let value: string | null;
  try {
    await client.connect();
    value = await client.get(SIGNING_KEY);
  } catch (error) {
    throw new CliError(
      'unavailable',
      'storage_unavailable',
      `reading ${SIGNING_KEY} from Valkey failed: ${firstLine((error as Error).message)}`,
    );
  } finally {
    client.disconnect();
  }
  if (value === null) throw new CliError('refused', 'not_found', `${SIGNING_KEY} is not set in Valkey`);
  return value;
}

async function sign(): Promise<void> {
  const sources = [text('jwk'), flag('from-valkey') || undefined, text('secret-file')].filter(Boolean);
  if (sources.length !== 1)
    throw usageError('sign needs exactly one of --jwk <file>, --from-valkey, --secret-file <file>');
  const ttlSeconds = Number(text('ttl'));
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)
    throw usageError('--ttl must be a positive number of seconds');
  const secretFile = text('secret-file');
  const jwkFile = text('jwk');
  let jwk: ReturnType<typeof parsePrivateJwk>;
  try {
    jwk = secretFile
      ? { kty: 'oct', alg: 'HS256', k: encodeBase64url(readSecretFile(secretFile)) }
      : jwkFile
        ? parsePrivateJwk(readText(jwkFile), jwkFile)
        : parsePrivateJwk(await readSigningKeyFromValkey(), SIGNING_KEY);
  } catch (error) {
    if (error instanceof SigningKeyError)
      throw new CliError(jwkFile ? 'usage' : 'unexpected', 'signing_key_invalid', error.message);
    throw error;
  }
  const token = await signWithJwk(jwk, { sub: text('sub') as string, ttlSeconds }).catch((error: Error) => {
    throw new CliError(
      jwkFile ? 'usage' : 'unexpected',
      'signing_key_invalid',
      error instanceof SigningKeyError ? error.message : `signing failed: ${firstLine(error.message)}`,
    );
  });
  print({ token }, token);
}

async function audit(): Promise<number> {
  const url = process.env.VALKEY_URL;
  if (!url) throw usageError('audit reads Valkey: VALKEY_URL is not set');
  const report = await auditValkey(url).catch((error: Error) => {
    throw new CliError(
      'unavailable',
      'storage_unavailable',
      `reading Valkey failed: ${firstLine(error.message)}`,
    );
  });
  print(report, describeAudit(report));
  return report.ok ? EXIT.ok : EXIT.unexpected;
}

async function keygen(): Promise<void> {
  const { signingKey, verifyKey } = await generateSigningPair();
  const keysetKey = encodeBase64url(crypto.getRandomValues(new Uint8Array(32)));
  print(
    { KEYSET_SIGNING_KEY: signingKey, KEYSET_VERIFY_KEY: verifyKey, KEYSET_KEY: keysetKey },
    `# control plane only (a secret):\nKEYSET_SIGNING_KEY=${signingKey}\n` +
      `# every edge (public, not a secret):\nKEYSET_VERIFY_KEY=${verifyKey}\n` +
      `# control plane and every edge (a secret):\nKEYSET_KEY=${keysetKey}`,
  );
}

/**
 * Exit 5 when any edge did not confirm the change: it is stored and the control plane goes on pushing, but the
 * edges that missed it do not hold it yet, and a cron rotation that reached none must page someone.
 */
function edgeOutcome(version: number, edges: EdgePushResult[], what = 'version'): number {
  const missing = edges.filter((edge) => !edge.confirmed);
  if (missing.length === 0) return EXIT.ok;
  const named = missing.map((edge) => (edge.error ? `${edge.url} (${firstLine(edge.error)})` : edge.url));
  process.stderr.write(
    `keyward: partial: ${what} ${version} is stored but ${missing.length}/${edges.length} edges did not confirm it: ${named.join(', ')}\n`,
  );
  return EXIT.partial;
}

/**
 * The token the CLI calls with: ADMIN_TOKEN, or the file ADMIN_TOKEN_FILE names (as the control plane reads
 * them). During a switch the control plane holds "old,new"; a CLI given both calls with the last, the new one.
 */
function cliAdminToken(): string {
  const { ADMIN_TOKEN: inline, ADMIN_TOKEN_FILE: file } = process.env;
  if (inline && file) throw usageError('set ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both');
  const value = (file ? readText(file) : (inline ?? '')).replace(/[\r\n]+$/, '');
  const token = value.split(',').at(-1)?.trim() ?? '';
  if (!token) throw usageError(file ? `ADMIN_TOKEN_FILE ${file} holds no token` : 'ADMIN_TOKEN is not set');
  return token;
}

async function callControlPlane(command: string): Promise<number> {
  const adminToken = cliAdminToken();
  const tls = process.env.KEYWARD_TLS === '1' || Boolean(process.env.GRPC_TLS_CA);
  const channel = tls
    ? credentials.createSsl(process.env.GRPC_TLS_CA ? Buffer.from(readText(process.env.GRPC_TLS_CA)) : null)
    : credentials.createInsecure();
  const client = connectSecretService(text('address') as string, channel);
  const callOptions: UnaryCallOptions = { bearer: adminToken, deadlineMs: 30_000 };
  const call = <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => {
      throw grpcFailure(error, text('address') as string);
    });
  try {
    if (command === 'rotate') {
      let secret = '';
      if (flag('secret-stdin')) secret = readStdin().trim();
      const response = await call(
        client.rotateSecret(
          {
            new_secret: secret,
            generate: secret === '',
            emergency: flag('emergency'),
            alg: text('alg') ?? '',
          },
          callOptions,
        ),
      );
      print(response, response.message);
      return edgeOutcome(response.version, response.edges);
    }
    if (command === 'stage') {
      const alg = text('alg');
      if (!alg) throw usageError('stage needs --alg HS256|ES256|EdDSA');
      const secretFile = text('secret-file');
      const secret = secretFile ? readText(secretFile).trim() : '';
      const response = await call(client.stageKey({ alg, new_secret: secret }, callOptions));
      print(response, `${response.message}\nkid ${response.kid}`);
      return edgeOutcome(response.version, response.edges);
    }
    if (command === 'promote') {
      const kid = text('kid');
      if (!kid) throw usageError('promote needs --kid <kid> (the standby key, see keyward status)');
      const response = await call(
        client.promoteKey({ kid, force: flag('force'), emergency: flag('emergency') }, callOptions),
      );
      print(response, response.message);
      return edgeOutcome(response.version, response.edges);
    }
    if (command === 'revoke-token') {
      const jtis = [...((values.jti as string[] | undefined) ?? [])];
      const jtiFile = text('jti-file');
      // One jti per line; blank lines (a trailing newline) are not jtis.
      if (jtiFile)
        jtis.push(
          ...readText(jtiFile)
            .split(/\r?\n/)
            .filter((line) => line !== ''),
        );
      const subject = text('subject') ?? '';
      if (jtis.length === 0 && subject === '') {
        throw usageError('revoke-token needs --jti <jti>, --jti-file <file> or --subject <sub>');
      }
      const response = await call(client.revokeTokens({ jtis, subject }, callOptions));
      print(response, response.message);
      return edgeOutcome(response.version, response.edges, 'revocation serial');
    }
    if (command === 'revoke') {
      const response = await call(client.revokeKey({ kid: args[0] as string }, callOptions));
      // RevokeKey answers after its push round without naming the edges: what each confirmed is in GetKeyset.
      const keyset = await call(client.getKeyset({}, callOptions));
      const edges: EdgePushResult[] = keyset.edges.map((edge) => ({
        url: edge.url,
        confirmed: edge.confirmed_version >= response.version,
        version: edge.confirmed_version,
        error: edge.last_error,
      }));
      print({ ...response, edges }, response.message);
      return edgeOutcome(response.version, edges);
    }
    const keyset = await call(client.getKeyset({}, callOptions));
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
    return EXIT.ok;
  } finally {
    client.close();
  }
}

async function run(command: string): Promise<number> {
  if (command === 'sign') {
    await sign();
    return EXIT.ok;
  }
  if (command === 'audit') return audit();
  if (command === 'keygen') {
    await keygen();
    return EXIT.ok;
  }
  return callControlPlane(command);
}

try {
  process.exit(await run(commandName as string));
} catch (error) {
  exitWith(asCliError(error));
}
