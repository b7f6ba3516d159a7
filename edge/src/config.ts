/** The edge's configuration (SPEC section 6), parsed once per env object; errors name the variable. */
import { parseDuration } from '../../shared/duration.ts';
import { parseKeysetKeys } from '../../shared/keyset-envelope.ts';
import { parseVerifyKeys } from '../../shared/keyset-signing-key.ts';
import type { JwsAlg } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, SUPPORTED_ALGORITHMS } from '../../shared/verify-token.ts';
import type { EdgeEnv, EdgeVariable, KeysetKv } from './env.ts';
import { EdgeError } from './errors.ts';

export interface EdgeConfig {
  /** KEYSET_KEY: one, or two while it is replaced; none makes every encrypted keyset undecryptable. */
  keysetKeys: Uint8Array[];
  /** KEYSET_VERIFY_KEY: the public keys a keyset must be signed by (two while the signing key is replaced). */
  verifyKeys: Uint8Array[];
  keysetUrl?: string;
  upstash?: { url: string; token: string };
  kv?: KeysetKv;
  keysetTtlMs: number;
  /** KEYSET_REVALIDATE: the shortest time between two background revalidations of the held keyset; Infinity when off. */
  keysetRevalidateMs: number;
  issuer?: string;
  audience?: string;
  algorithms: readonly JwsAlg[];
  clockToleranceMs: number;
  maxTokenBytes: number;
  /** Most verified tokens remembered; 0 turns the cache off. */
  verifyCacheSize: number;
  /** Longest time the held keyset is used without a source confirming it; Infinity when off. */
  maxStalenessMs: number;
  /** EDGE_METRICS: GET /metrics served or not; undefined leaves it to the runtime (off on Workers only). */
  metrics: boolean | undefined;
  /** ACCESS_LOG: one JSON line per request. */
  accessLog: boolean;
}

/**
 * KEYSET_REVALIDATE's default. A revocation reaches every isolate in service within twice this (README, "Edge on
 * Cloudflare"), and the origin sees about one conditional request per location per interval: 10 per second for
 * 300 locations, nearly all 304s. Half the about 60 s a Workers KV write takes to be seen everywhere.
 */
export const DEFAULT_KEYSET_REVALIDATE = '30s';

/** VERIFY_CACHE_SIZE's default: about 10 MB for typical tokens of ~600 bytes. */
export const DEFAULT_VERIFY_CACHE_SIZE = 10_000;

/** Reads every variable once; throws EdgeError `config_invalid` naming the first bad one. */
export function parseEdgeConfig(env: EdgeEnv): EdgeConfig {
  const verifyKeyText = text(env, 'KEYSET_VERIFY_KEY');
  if (verifyKeyText === undefined) {
    invalid(
      'KEYSET_VERIFY_KEY',
      'is required (base64url of the 32-byte Ed25519 public key, `npx keyward keygen`)',
    );
  }
  const verifyKeys = named('KEYSET_VERIFY_KEY', () => parseVerifyKeys(verifyKeyText));
  // Optional: an edge without it holds no secret and refuses every encrypted keyset as undecryptable.
  const keysetKeyText = text(env, 'KEYSET_KEY');
  const keysetKeys =
    keysetKeyText === undefined ? [] : named('KEYSET_KEY', () => parseKeysetKeys(keysetKeyText));

  const keysetUrl = text(env, 'KEYSET_URL');
  if (keysetUrl !== undefined && !isHttpUrl(keysetUrl)) invalid('KEYSET_URL', 'expected an http(s) URL');

  const upstashUrl = text(env, 'UPSTASH_REDIS_REST_URL');
  const upstashToken = text(env, 'UPSTASH_REDIS_REST_TOKEN');
  if (upstashUrl !== undefined && !isHttpUrl(upstashUrl))
    invalid('UPSTASH_REDIS_REST_URL', 'expected an http(s) URL');
  if ((upstashUrl === undefined) !== (upstashToken === undefined)) {
    const missing = upstashUrl === undefined ? 'UPSTASH_REDIS_REST_URL' : 'UPSTASH_REDIS_REST_TOKEN';
    invalid(missing, 'is required when the other UPSTASH_REDIS_REST_* variable is set');
  }

  const keysetTtlMs = duration(env, 'KEYSET_TTL', '300s');
  if (keysetTtlMs <= 0) invalid('KEYSET_TTL', 'must be longer than zero');

  const revalidate = text(env, 'KEYSET_REVALIDATE') ?? DEFAULT_KEYSET_REVALIDATE;
  let keysetRevalidateMs = Number.POSITIVE_INFINITY;
  if (revalidate.toLowerCase() !== 'off') {
    keysetRevalidateMs = duration(env, 'KEYSET_REVALIDATE', DEFAULT_KEYSET_REVALIDATE);
    if (keysetRevalidateMs <= 0) invalid('KEYSET_REVALIDATE', 'must be longer than zero, or "off"');
  }

  const staleness = text(env, 'KEYSET_MAX_STALENESS') ?? 'off';
  let maxStalenessMs = Number.POSITIVE_INFINITY;
  if (staleness.toLowerCase() !== 'off') {
    maxStalenessMs = duration(env, 'KEYSET_MAX_STALENESS', 'off');
    if (maxStalenessMs <= keysetTtlMs) {
      invalid('KEYSET_MAX_STALENESS', 'must be longer than KEYSET_TTL, or "off"');
    }
    // Only an origin confirms a keyset; the KEYSETS binding is a copy that other isolates wrote.
    if (keysetUrl === undefined && upstashUrl === undefined) {
      invalid(
        'KEYSET_MAX_STALENESS',
        'needs an origin that can confirm the keyset (KEYSET_URL or UPSTASH_REDIS_REST_URL); the KEYSETS binding alone never confirms',
      );
    }
  }

  return {
    keysetKeys,
    verifyKeys,
    keysetUrl,
    upstash:
      upstashUrl !== undefined && upstashToken !== undefined
        ? { url: upstashUrl, token: upstashToken }
        : undefined,
    kv: kvBinding(env.KEYSETS),
    keysetTtlMs,
    keysetRevalidateMs,
    issuer: text(env, 'JWT_ISSUER'),
    audience: text(env, 'JWT_AUDIENCE'),
    algorithms: algorithms(text(env, 'JWT_ALGORITHMS') ?? 'HS256,ES256,EdDSA'),
    clockToleranceMs: duration(env, 'CLOCK_TOLERANCE', '30s'),
    maxTokenBytes: positiveInteger(env, 'MAX_TOKEN_BYTES', DEFAULT_MAX_TOKEN_BYTES),
    verifyCacheSize: count(env, 'VERIFY_CACHE_SIZE', DEFAULT_VERIFY_CACHE_SIZE),
    maxStalenessMs,
    metrics: onOff(env, 'EDGE_METRICS'),
    accessLog: onOff(env, 'ACCESS_LOG') ?? false,
  };
}

/** "on" or "off" (any case); undefined when unset. */
function onOff(env: EdgeEnv, name: EdgeVariable): boolean | undefined {
  const value = text(env, name)?.toLowerCase();
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') invalid(name, `expected "on" or "off", got "${value}"`);
  return value === 'on';
}

function algorithms(list: string): JwsAlg[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  if (names.length === 0) invalid('JWT_ALGORITHMS', 'expected at least one of HS256, ES256, EdDSA');
  const out: JwsAlg[] = [];
  for (const name of names) {
    if (name.toLowerCase() === 'none') invalid('JWT_ALGORITHMS', '"none" is never allowed');
    if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(name)) {
      invalid('JWT_ALGORITHMS', `unsupported algorithm "${name}", expected HS256, ES256 or EdDSA`);
    }
    if (!out.includes(name as JwsAlg)) out.push(name as JwsAlg);
  }
  return out;
}

/** A string variable; empty means unset (wrangler vars cannot be deleted per environment, only emptied). */
function text(env: EdgeEnv, name: EdgeVariable): string | undefined {
  const value: unknown = env[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid(name, 'expected a string');
  const trimmed = value.trim();
  return trimmed.length === 0 ? undefined : trimmed;
}

function duration(env: EdgeEnv, name: EdgeVariable, fallback: string): number {
  const value = text(env, name) ?? fallback;
  return named(name, () => parseDuration(value));
}

function positiveInteger(env: EdgeEnv, name: EdgeVariable, fallback: number): number {
  return count(env, name, fallback, 1);
}

/** A whole number of at least `min`. */
function count(env: EdgeEnv, name: EdgeVariable, fallback: number, min = 0): number {
  const value = text(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) {
    invalid(name, `expected ${min === 1 ? 'a positive integer' : 'a whole number'}, got "${value}"`);
  }
  return Number(value);
}

function kvBinding(value: KeysetKv | string | undefined | null): KeysetKv | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || typeof value.get !== 'function' || typeof value.put !== 'function') {
    invalid('KEYSETS', 'expected a KV namespace binding');
  }
  return value;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function named<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    invalid(name, error instanceof Error ? error.message : String(error));
  }
}

function invalid(name: string, problem: string): never {
  throw new EdgeError('config_invalid', `${name}: ${problem}`);
}
