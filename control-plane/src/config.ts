/** The control plane's configuration (SPEC section 3), read once at start-up into a typed object. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { utf8 } from '../../shared/base64url.ts';
import { parseDuration } from '../../shared/duration.ts';
import { MIN_SECRET_BYTES } from '../../shared/keyset.ts';
import { parseKeysetKey } from '../../shared/keyset-envelope.ts';
import { parseSigningSeed } from '../../shared/keyset-signing-key.ts';
import { ConfigError } from './errors.ts';

export interface ControlPlaneConfig {
  /** ADMIN_TOKEN: one token, or two separated by a comma while a new one replaces the old (adminTokens()). */
  adminToken: string;
  storage: 'env' | 'valkey';
  /** True when SECRET_STORAGE was not set and no Valkey variable was: in-memory storage chosen by default. */
  storageDefaulted?: boolean;
  valkeyUrl?: string;
  /** Sentinel addresses (VALKEY_SENTINELS); empty when Valkey is reached directly or as a Cluster. */
  valkeySentinels: HostPort[];
  valkeySentinelMaster: string;
  /** Cluster seed nodes (VALKEY_CLUSTER_NODES); empty when Valkey is not a Cluster. */
  valkeyClusterNodes: HostPort[];
  /** Replicas that must hold a change before it is acknowledged (VALKEY_MIN_REPLICAS). */
  valkeyMinReplicas: number;
  jwtSecret?: string;
  jwtPreviousSecrets: string[];
  gracePeriodMs: number;
  /** REVOCATION_TTL: how long a RevokeTokens call's revocations last. */
  revocationTtlMs: number;
  keysetCacheTtlMs: number;
  /** null when ROTATION_INTERVAL=off. */
  rotationIntervalMs: number | null;
  /** ROTATION_LEAD: how long before it is due the next key is staged; 0 (`off`): one-step rotation. */
  rotationLeadMs: number;
  edgeUrls: string[];
  /** EDGE_REGISTRATION_TOKEN: edges that present it may register themselves (POST /edges); none: off. */
  edgeRegistrationToken?: string;
  /** EDGE_LEASE: how long a registration lasts unless the edge renews it. */
  edgeLeaseMs: number;
  /** PUSH_CONCURRENCY: pushes in flight at once, across edges. */
  pushConcurrency: number;
  /** PUSH_TIMEOUT: the deadline of one push attempt at one edge. */
  pushTimeoutMs: number;
  /** PUSH_BUDGET: how long a change's answer waits for the edges before it reports those not yet done. */
  pushBudgetMs: number;
  keysetKey?: Uint8Array;
  /** KEYSET_SIGNING_KEY: the Ed25519 seed every envelope is signed with. */
  keysetSigningKey?: Uint8Array;
  grpcPort: number;
  httpPort: number;
  /** Address both servers bind to. */
  host: string;
  /** Paths of PEM files (certificate chain, private key), checked to exist and to match at start-up. */
  grpcTlsCert?: string;
  grpcTlsKey?: string;
  /** Path of a PEM file with the CA certificate(s) to trust for a rediss:// VALKEY_URL (a private CA). */
  valkeyTlsCa?: string;
  logLevel: string;
}

export interface HostPort {
  host: string;
  port: number;
}

export const MIN_ADMIN_TOKEN_LENGTH = 64;

/** Tokens ADMIN_TOKEN may hold at once: the current one and its replacement. */
export const MAX_ADMIN_TOKENS = 2;

/** The tokens an ADMIN_TOKEN value holds (comma-separated, surrounding spaces ignored). */
export function adminTokens(value: string): string[] {
  return value
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token.length > 0);
}

/**
 * Variables holding secrets: each may instead be read from a file named by `NAME_FILE` (the container
 * convention for mounted secrets). VALKEY_URL is one, since it may carry a password.
 */
export const SECRET_FILE_VARIABLES = [
  'ADMIN_TOKEN',
  'KEYSET_KEY',
  'KEYSET_SIGNING_KEY',
  'VALKEY_URL',
  'JWT_SECRET',
  'JWT_PREVIOUS_SECRETS',
  'EDGE_REGISTRATION_TOKEN',
] as const;

/**
 * The environment with every `NAME_FILE` replaced by NAME holding the file's content (trailing line breaks
 * dropped). Throws ConfigError naming both when both are set, or naming NAME_FILE and the path (never the
 * content) when the file cannot be read.
 */
export function resolveSecretFiles(
  env: Record<string, string | undefined>,
  names: readonly string[] = SECRET_FILE_VARIABLES,
): Record<string, string | undefined> {
  const resolved = { ...env };
  for (const name of names) {
    const path = env[`${name}_FILE`];
    if (path === undefined || path === '') continue;
    if (env[name] !== undefined && env[name] !== '')
      throw new ConfigError(name, `set ${name} or ${name}_FILE, not both`);
    const { text, problem } = readConfigFile(path);
    if (text === undefined) throw new ConfigError(`${name}_FILE`, problem ?? `cannot read ${path}`);
    resolved[name] = text.replace(/[\r\n]+$/, '');
    delete resolved[`${name}_FILE`];
  }
  return resolved;
}

/** A problem with a value read from `NAME_FILE` says so, since the operator set that variable, not NAME. */
function fromFile(env: Record<string, string | undefined>, variable: string, problem: string): string {
  return env[`${variable}_FILE`] ? `${problem} (read from ${variable}_FILE)` : problem;
}

/**
 * GRPC_TLS_CERT and GRPC_TLS_KEY read and checked as at start-up (PEM, the key matching the first
 * certificate): what a reload (SIGHUP) applies. Throws ConfigError naming the variable and path, never content.
 */
export function readTlsIdentity(
  certPath: string,
  keyPath: string,
): { certificate: Buffer; privateKey: Buffer } {
  const { certificates, text, problem } = certificatesIn(certPath);
  if (certificates === undefined) throw new ConfigError('GRPC_TLS_CERT', problem ?? 'unreadable');
  const keyFile = readConfigFile(keyPath);
  if (keyFile.text === undefined) throw new ConfigError('GRPC_TLS_KEY', keyFile.problem ?? 'unreadable');
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyFile.text);
  } catch {
    throw new ConfigError(
      'GRPC_TLS_KEY',
      `${keyPath} holds no usable private key (expected an unencrypted PEM key)`,
    );
  }
  if (!(certificates[0] as X509Certificate).checkPrivateKey(key))
    throw new ConfigError('GRPC_TLS_KEY', 'does not match the first certificate in GRPC_TLS_CERT');
  return { certificate: Buffer.from(text as string), privateKey: Buffer.from(keyFile.text) };
}

/**
 * ADMIN_TOKEN (or ADMIN_TOKEN_FILE) read and checked alone: what a reload (SIGHUP) applies. Throws ConfigError
 * as loadConfig does.
 */
export function loadAdminTokens(env: Record<string, string | undefined>): string[] {
  const resolved = resolveSecretFiles(env, ['ADMIN_TOKEN']);
  const result = adminTokenSchema.safeParse(resolved.ADMIN_TOKEN);
  if (!result.success)
    throw new ConfigError(
      'ADMIN_TOKEN',
      fromFile(env, 'ADMIN_TOKEN', result.error.issues[0]?.message ?? 'invalid'),
    );
  return adminTokens(result.data);
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parseDuration(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

/** A duration from `min` to `max` ms, for the push settings. */
const boundedDuration = (fallback: string, min: number, max: number, range: string) =>
  duration(fallback).refine((ms) => ms >= min && ms <= max, `must be from ${range}`);

/** The most pushes PUSH_CONCURRENCY may keep in flight: each holds a socket (a file descriptor). */
export const MAX_PUSH_CONCURRENCY = 4096;

// Strict decimal: z.coerce would take '' or ' ' as port 0 (a random port) and '0x50' as 80.
const port = (fallback: number) =>
  z
    .string()
    .default(String(fallback))
    .refine(
      (text) => /^\d{1,5}$/.test(text.trim()) && Number(text) <= 65535,
      'expected a port number from 0 to 65535',
    )
    .transform(Number);

const strongSecret = z
  .string()
  .refine((text) => utf8(text).length >= MIN_SECRET_BYTES, `must be at least ${MIN_SECRET_BYTES} bytes`);

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads a file named by a variable; the message names the path and the reason, never the contents. */
function readConfigFile(path: string): { text?: string; problem?: string } {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: `cannot read ${path} (${code})` };
  }
}

/** The certificates a PEM file holds; a problem when it holds none or one does not parse. */
function certificatesIn(path: string): {
  certificates?: X509Certificate[];
  text?: string;
  problem?: string;
} {
  const { text, problem } = readConfigFile(path);
  if (text === undefined) return { problem };
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    return { problem: `${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` };
  try {
    return { certificates: blocks.map((block) => new X509Certificate(block)), text };
  } catch {
    return { problem: `${path} holds a PEM certificate that does not parse` };
  }
}

const pemCertificateFile = z
  .string()
  .min(1, 'expected the path of a PEM file')
  .superRefine((path, ctx) => {
    const { problem } = certificatesIn(path);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const pemPrivateKeyFile = z
  .string()
  .min(1, 'expected the path of a PEM file')
  .superRefine((path, ctx) => {
    const { text, problem } = readConfigFile(path);
    if (text === undefined) {
      ctx.addIssue({ code: 'custom', message: problem ?? 'unreadable' });
      return;
    }
    try {
      createPrivateKey(text);
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `${path} holds no usable private key (expected an unencrypted PEM key)`,
      });
    }
  });

// A DNS name (RFC 1123 labels) or an IP literal: anything else would only fail later, at bind, unnamed.
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const list = z
  .string()
  .default('')
  .transform((text) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

/** `host:port` (IPv6 in brackets: `[::1]:26379`). */
function parseHostPort(text: string): HostPort | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  if (match === null) return null;
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  if (match[1] !== undefined ? isIP(host) !== 6 : isIP(host) === 0 && !HOST_NAME.test(host)) return null;
  return { host, port };
}

const hostPorts = list.transform((items, ctx) => {
  const parsed = items.map(parseHostPort);
  if (parsed.some((item) => item === null)) {
    ctx.addIssue({ code: 'custom', message: 'expected host:port addresses, comma-separated' });
    return z.NEVER;
  }
  return parsed as HostPort[];
});

const adminTokenSchema = z
  .string({ error: `required, at least ${MIN_ADMIN_TOKEN_LENGTH} characters` })
  .superRefine((text, ctx) => {
    const tokens = adminTokens(text);
    if (tokens.length > MAX_ADMIN_TOKENS)
      ctx.addIssue({
        code: 'custom',
        message: `holds ${tokens.length} tokens; at most ${MAX_ADMIN_TOKENS} (the current one and its replacement), comma-separated`,
      });
    // Characters as written (code points): an emoji is one, not the two UTF-16 units `length` counts.
    else if (tokens.length === 0 || tokens.some((token) => [...token].length < MIN_ADMIN_TOKEN_LENGTH))
      ctx.addIssue({
        code: 'custom',
        message:
          tokens.length > 1
            ? `each comma-separated token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`
            : `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`,
      });
  });

const schema = z.object({
  ADMIN_TOKEN: adminTokenSchema,
  SECRET_STORAGE: z.enum(['env', 'valkey']).optional(),
  VALKEY_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'expected redis://[user:pass@]host:port[/db] or rediss://...')
    // The client would read `/3x` as database 3 and `/abc` as no number at all.
    .refine(
      (text) => /^\/?(?:0|[1-9]\d{0,8})?$/.test(URL.parse(text)?.pathname ?? '/'),
      'the database after the host must be a number, as in redis://host:6379/2',
    )
    .optional(),
  VALKEY_SENTINELS: hostPorts,
  VALKEY_SENTINEL_MASTER: z
    .string()
    .default('mymaster')
    .refine(
      (text) => /^[A-Za-z0-9._-]+$/.test(text),
      'expected a master group name (letters, digits, . _ -)',
    ),
  VALKEY_CLUSTER_NODES: hostPorts,
  VALKEY_MIN_REPLICAS: z
    .string()
    .default('0')
    .refine((text) => /^\d{1,3}$/.test(text.trim()), 'expected a whole number of replicas, 0 or more')
    .transform(Number),
  JWT_SECRET: strongSecret.optional(),
  JWT_PREVIOUS_SECRETS: list.pipe(z.array(strongSecret)),
  GRACE_PERIOD: duration('24h'),
  KEYSET_CACHE_TTL: duration('300s'),
  // A revocation must outlive the tokens it refuses to matter, and the list must stay bounded: 0 is neither.
  REVOCATION_TTL: duration('24h').refine((ms) => ms >= 1000, 'must be at least 1s'),
  ROTATION_INTERVAL: z
    .string()
    .default('90d')
    .transform((text, ctx) => {
      if (text.trim() === 'off') return null;
      try {
        const ms = parseDuration(text);
        if (ms > 0) return ms;
        ctx.addIssue({ code: 'custom', message: 'must be greater than 0, or "off"' });
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `${(error as Error).message}, or "off"` });
      }
      return z.NEVER;
    }),
  // Unset: defaultRotationLeadMs, fitted to ROTATION_INTERVAL.
  ROTATION_LEAD: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      if (text.trim() === 'off') return 0;
      try {
        return parseDuration(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `${(error as Error).message}, or "off"` });
        return z.NEVER;
      }
    }),
  EDGE_URLS: list.pipe(
    z.array(z.url({ protocol: /^https?$/, error: 'expected http(s) URLs, comma-separated' })),
  ),
  EDGE_REGISTRATION_TOKEN: z
    .string()
    .optional()
    .transform((text) => (text === undefined || text.trim() === '' ? undefined : text.trim()))
    .refine((text) => text === undefined || text.length >= 32, 'must be at least 32 characters'),
  EDGE_LEASE: duration('30s').refine((ms) => ms >= 1000, 'must be at least 1s'),
  PUSH_CONCURRENCY: z
    .string()
    .default('64')
    .refine(
      (text) => /^\d{1,4}$/.test(text.trim()) && Number(text) >= 1 && Number(text) <= MAX_PUSH_CONCURRENCY,
      `expected a whole number from 1 to ${MAX_PUSH_CONCURRENCY}`,
    )
    .transform(Number),
  PUSH_TIMEOUT: boundedDuration('2s', 10, 300_000, '10ms to 5m'),
  PUSH_BUDGET: boundedDuration('5s', 10, 600_000, '10ms to 10m'),
  KEYSET_KEY: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text === '') return undefined;
      try {
        return parseKeysetKey(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  KEYSET_SIGNING_KEY: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text === '') return undefined;
      try {
        return parseSigningSeed(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  GRPC_PORT: port(50051),
  HTTP_PORT: port(8080),
  HOST: z
    .string()
    .default('0.0.0.0')
    .refine((text) => isIP(text) !== 0 || HOST_NAME.test(text), 'expected an IP address or a host name'),
  GRPC_TLS_CERT: pemCertificateFile.optional(),
  GRPC_TLS_KEY: pemPrivateKeyFile.optional(),
  VALKEY_TLS_CA: pemCertificateFile.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** ROTATION_LEAD when it is not set, and the most it is when ROTATION_INTERVAL is long enough. */
export const DEFAULT_ROTATION_LEAD_MS = 3_600_000;

/**
 * ROTATION_LEAD when it is not set: 1h (SPEC section 8), or half of a ROTATION_INTERVAL of 1h or less, which a
 * lead of 1h would not fit into. Half is the longest lead that keeps every key replaced ROTATION_INTERVAL after it
 * was made: a staged key is promoted no sooner than the lead after it was staged, so a longer lead would keep
 * each key twice the lead.
 */
export function defaultRotationLeadMs(intervalMs: number | null): number {
  return intervalMs === null || intervalMs > DEFAULT_ROTATION_LEAD_MS
    ? DEFAULT_ROTATION_LEAD_MS
    : Math.floor(intervalMs / 2);
}

/** Reads the configuration; throws ConfigError naming the first bad variable (never echoing its value). */
export function loadConfig(env: Record<string, string | undefined>): ControlPlaneConfig {
  const result = schema.safeParse(resolveSecretFiles(env));
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'configuration');
    throw new ConfigError(variable, fromFile(env, variable, issue?.message ?? 'invalid'));
  }
  const c = result.data;
  const sentinel = c.VALKEY_SENTINELS.length > 0;
  const cluster = c.VALKEY_CLUSTER_NODES.length > 0;
  const storageDefaulted = c.SECRET_STORAGE === undefined && !c.VALKEY_URL && !sentinel && !cluster;
  const storage = c.SECRET_STORAGE ?? (c.VALKEY_URL || sentinel || cluster ? 'valkey' : 'env');
  if (storage === 'valkey' && !c.VALKEY_URL && !sentinel && !cluster) {
    throw new ConfigError(
      'VALKEY_URL',
      'required when SECRET_STORAGE=valkey (or set VALKEY_SENTINELS or VALKEY_CLUSTER_NODES)',
    );
  }
  if (sentinel && cluster)
    throw new ConfigError('VALKEY_CLUSTER_NODES', 'set VALKEY_SENTINELS or VALKEY_CLUSTER_NODES, not both');
  // A Cluster has no databases but 0: a /db in VALKEY_URL would be silently ignored.
  if (cluster && c.VALKEY_URL && !/^rediss?:\/\/[^/]*\/?(0)?$/.test(c.VALKEY_URL))
    throw new ConfigError('VALKEY_URL', 'a Valkey Cluster has only database 0: drop the /db from the URL');
  // KEYSET_KEY is needed only while the keyset holds an HS256 secret (SPEC section 9): without it, a change that
  // would seal one is refused (FAILED_PRECONDITION, naming KEYSET_KEY) and a first start generates an EdDSA key.
  // Every envelope is signed (SPEC section 9): wherever one is made, the signing key is needed.
  if ((storage === 'valkey' || c.EDGE_URLS.length > 0) && !c.KEYSET_SIGNING_KEY) {
    throw new ConfigError(
      'KEYSET_SIGNING_KEY',
      'required with Valkey storage or EDGE_URLS: every keyset envelope is signed (`npx keyward keygen` prints one)',
    );
  }
  if (Boolean(c.GRPC_TLS_CERT) !== Boolean(c.GRPC_TLS_KEY)) {
    throw new ConfigError(
      c.GRPC_TLS_CERT ? 'GRPC_TLS_KEY' : 'GRPC_TLS_CERT',
      'set both GRPC_TLS_CERT and GRPC_TLS_KEY, or neither',
    );
  }
  if (c.GRPC_TLS_CERT && c.GRPC_TLS_KEY) {
    const certificate = certificatesIn(c.GRPC_TLS_CERT).certificates?.[0] as X509Certificate;
    const key = createPrivateKey(readConfigFile(c.GRPC_TLS_KEY).text as string);
    if (!certificate.checkPrivateKey(key))
      throw new ConfigError('GRPC_TLS_KEY', `does not match the first certificate in GRPC_TLS_CERT`);
  }
  // The next key is staged ROTATION_LEAD before it is due, so that lead must fit inside the interval.
  if (c.ROTATION_INTERVAL !== null && c.ROTATION_LEAD !== undefined && c.ROTATION_LEAD >= c.ROTATION_INTERVAL)
    throw new ConfigError(
      'ROTATION_LEAD',
      'must be shorter than ROTATION_INTERVAL (the next key is staged ROTATION_LEAD before it is due), or "off"',
    );
  if (c.VALKEY_MIN_REPLICAS > 0 && storage !== 'valkey')
    throw new ConfigError('VALKEY_MIN_REPLICAS', 'only used with Valkey storage');
  // A CA with a plain redis:// URL would suggest encryption where there is none.
  if (c.VALKEY_TLS_CA && !(storage === 'valkey' && c.VALKEY_URL?.startsWith('rediss://'))) {
    throw new ConfigError(
      'VALKEY_TLS_CA',
      'only used with Valkey storage over TLS: set VALKEY_URL=rediss://...',
    );
  }
  return {
    adminToken: c.ADMIN_TOKEN,
    storage,
    storageDefaulted,
    valkeyUrl: c.VALKEY_URL,
    valkeySentinels: c.VALKEY_SENTINELS,
    valkeySentinelMaster: c.VALKEY_SENTINEL_MASTER,
    valkeyClusterNodes: c.VALKEY_CLUSTER_NODES,
    valkeyMinReplicas: c.VALKEY_MIN_REPLICAS,
    jwtSecret: c.JWT_SECRET,
    jwtPreviousSecrets: c.JWT_PREVIOUS_SECRETS,
    gracePeriodMs: c.GRACE_PERIOD,
    revocationTtlMs: c.REVOCATION_TTL,
    keysetCacheTtlMs: c.KEYSET_CACHE_TTL,
    rotationIntervalMs: c.ROTATION_INTERVAL,
    rotationLeadMs: c.ROTATION_LEAD ?? defaultRotationLeadMs(c.ROTATION_INTERVAL),
    edgeUrls: c.EDGE_URLS,
    edgeRegistrationToken: c.EDGE_REGISTRATION_TOKEN,
    edgeLeaseMs: c.EDGE_LEASE,
    pushConcurrency: c.PUSH_CONCURRENCY,
    pushTimeoutMs: c.PUSH_TIMEOUT,
    pushBudgetMs: c.PUSH_BUDGET,
    keysetKey: c.KEYSET_KEY,
    keysetSigningKey: c.KEYSET_SIGNING_KEY,
    grpcPort: c.GRPC_PORT,
    httpPort: c.HTTP_PORT,
    host: c.HOST,
    grpcTlsCert: c.GRPC_TLS_CERT,
    grpcTlsKey: c.GRPC_TLS_KEY,
    valkeyTlsCa: c.VALKEY_TLS_CA,
    logLevel: c.LOG_LEVEL,
  };
}
