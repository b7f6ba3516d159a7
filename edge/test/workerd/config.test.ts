import { describe, expect, it } from 'vitest';
import {
  EDGE_KEYS,
  FOREIGN_KEYSET_KEY,
  FOREIGN_VERIFY_KEY,
  KEYSET_KEY,
  KEYSET_VERIFY_KEY,
} from '../../../test/support/keysets.ts';
import { parseEdgeConfig } from '../../src/config.ts';
import { EdgeError } from '../../src/errors.ts';
import { edgeForEnv } from '../../src/runtime/edge-for-env.ts';

function configError(vars: Record<string, unknown>): string {
  try {
    parseEdgeConfig(vars);
  } catch (error) {
    expect(error).toBeInstanceOf(EdgeError);
    expect((error as EdgeError).code).toBe('config_invalid');
    return (error as Error).message;
  }
  throw new Error('expected a config error');
}

describe('edge configuration', () => {
  it('has SPEC defaults', () => {
    const config = parseEdgeConfig({ ...EDGE_KEYS });
    expect(config).toMatchObject({
      keysetTtlMs: 300_000,
      clockToleranceMs: 30_000,
      algorithms: ['HS256', 'ES256', 'EdDSA'],
      maxTokenBytes: 8192,
      issuer: undefined,
      audience: undefined,
      keysetUrl: undefined,
      upstash: undefined,
      kv: undefined,
      verifyCacheSize: 10_000,
      maxStalenessMs: Number.POSITIVE_INFINITY,
    });
    expect(config.keysetKeys.map((key) => key.length)).toEqual([32]);
    expect(config.verifyKeys.map((key) => key.length)).toEqual([32]);
  });

  it('reads every variable', () => {
    const config = parseEdgeConfig({
      ...EDGE_KEYS,
      KEYSET_URL: 'http://127.0.0.1:8080/keyset',
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
      UPSTASH_REDIS_REST_TOKEN: 'token',
      KEYSET_TTL: '5m',
      JWT_ISSUER: 'https://issuer.test',
      JWT_AUDIENCE: 'api',
      JWT_ALGORITHMS: ' EdDSA , HS256,EdDSA ',
      CLOCK_TOLERANCE: '0',
      MAX_TOKEN_BYTES: '4096',
      VERIFY_CACHE_SIZE: '0',
      KEYSET_MAX_STALENESS: '1h',
    });
    expect(config).toMatchObject({
      keysetUrl: 'http://127.0.0.1:8080/keyset',
      upstash: { url: 'http://127.0.0.1:8079', token: 'token' },
      keysetTtlMs: 300_000,
      issuer: 'https://issuer.test',
      audience: 'api',
      algorithms: ['EdDSA', 'HS256'],
      clockToleranceMs: 0,
      maxTokenBytes: 4096,
      verifyCacheSize: 0,
      maxStalenessMs: 3_600_000,
    });
  });

  it('takes one or two verify keys and KEYSET_KEYs, and starts without a KEYSET_KEY', () => {
    const two = parseEdgeConfig({
      KEYSET_KEY: `${KEYSET_KEY}, ${FOREIGN_KEYSET_KEY}`,
      KEYSET_VERIFY_KEY: `${KEYSET_VERIFY_KEY},${FOREIGN_VERIFY_KEY}`,
    });
    expect(two.keysetKeys).toHaveLength(2);
    expect(two.verifyKeys).toHaveLength(2);
    expect(parseEdgeConfig({ KEYSET_VERIFY_KEY }).keysetKeys).toEqual([]);
  });

  it('refuses bad values with a message naming the variable', () => {
    expect(configError({})).toMatch(/^KEYSET_VERIFY_KEY: is required/);
    expect(configError({ KEYSET_KEY })).toMatch(/^KEYSET_VERIFY_KEY: is required/);
    expect(configError({ ...EDGE_KEYS, KEYSET_VERIFY_KEY: 'short' })).toMatch(/^KEYSET_VERIFY_KEY: /);
    expect(configError({ ...EDGE_KEYS, KEYSET_VERIFY_KEY: `${FOREIGN_VERIFY_KEY}=` })).toMatch(
      /^KEYSET_VERIFY_KEY: /,
    );
    const three = [KEYSET_VERIFY_KEY, FOREIGN_VERIFY_KEY, KEYSET_VERIFY_KEY].join(',');
    expect(configError({ ...EDGE_KEYS, KEYSET_VERIFY_KEY: three })).toMatch(
      /^KEYSET_VERIFY_KEY: .*at most two/,
    );
    expect(configError({ ...EDGE_KEYS, KEYSET_KEY: 'short' })).toMatch(/^KEYSET_KEY: /);
    expect(configError({ ...EDGE_KEYS, KEYSET_KEY: `${KEYSET_KEY},short` })).toMatch(/^KEYSET_KEY: /);
    expect(configError({ ...EDGE_KEYS, JWT_ALGORITHMS: 'none' })).toMatch(
      /^JWT_ALGORITHMS: "none" is never allowed/,
    );
    expect(configError({ ...EDGE_KEYS, JWT_ALGORITHMS: 'HS256,None' })).toMatch(/^JWT_ALGORITHMS: "none"/);
    expect(configError({ ...EDGE_KEYS, JWT_ALGORITHMS: 'RS256' })).toMatch(/^JWT_ALGORITHMS: unsupported/);
    // A key verifies only its own alg: no HS256 key could ever verify an HS384 or HS512 token.
    for (const alg of ['HS384', 'HS512', 'HS256,HS512']) {
      expect(configError({ ...EDGE_KEYS, JWT_ALGORITHMS: alg })).toMatch(
        /^JWT_ALGORITHMS: unsupported algorithm "HS(384|512)", expected HS256, ES256 or EdDSA$/,
      );
    }
    expect(configError({ ...EDGE_KEYS, JWT_ALGORITHMS: ' , ' })).toMatch(/^JWT_ALGORITHMS: /);
    expect(configError({ ...EDGE_KEYS, KEYSET_TTL: 'soon' })).toMatch(/^KEYSET_TTL: /);
    expect(configError({ ...EDGE_KEYS, KEYSET_TTL: '0s' })).toMatch(/^KEYSET_TTL: /);
    expect(configError({ ...EDGE_KEYS, CLOCK_TOLERANCE: '-1' })).toMatch(/^CLOCK_TOLERANCE: /);
    expect(configError({ ...EDGE_KEYS, MAX_TOKEN_BYTES: '1e3' })).toMatch(/^MAX_TOKEN_BYTES: /);
    expect(configError({ ...EDGE_KEYS, KEYSET_URL: 'ftp://x' })).toMatch(/^KEYSET_URL: /);
    expect(configError({ ...EDGE_KEYS, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' })).toMatch(
      /^UPSTASH_REDIS_REST_TOKEN: /,
    );
    expect(configError({ ...EDGE_KEYS, UPSTASH_REDIS_REST_TOKEN: 't' })).toMatch(/^UPSTASH_REDIS_REST_URL: /);
    expect(configError({ ...EDGE_KEYS, KEYSETS: 'not a binding' })).toMatch(/^KEYSETS: /);
    expect(configError({ ...EDGE_KEYS, VERIFY_CACHE_SIZE: '-1' })).toMatch(/^VERIFY_CACHE_SIZE: /);
    expect(configError({ ...EDGE_KEYS, VERIFY_CACHE_SIZE: 'big' })).toMatch(/^VERIFY_CACHE_SIZE: /);
    expect(configError({ ...EDGE_KEYS, MAX_TOKEN_BYTES: '0' })).toMatch(/^MAX_TOKEN_BYTES: /);
    const url = 'http://127.0.0.1:8080/keyset';
    expect(configError({ ...EDGE_KEYS, KEYSET_URL: url, KEYSET_MAX_STALENESS: 'never' })).toMatch(
      /^KEYSET_MAX_STALENESS: /,
    );
  });

  it('parses once per env object: the Worker keeps one edge per env', () => {
    const env = { ...EDGE_KEYS };
    expect(edgeForEnv(env)).toBe(edgeForEnv(env));
    expect(edgeForEnv({ ...EDGE_KEYS })).not.toBe(edgeForEnv(env));
    const bad = { ...EDGE_KEYS, JWT_ALGORITHMS: 'none' };
    expect(edgeForEnv(bad)).toBeInstanceOf(EdgeError);
    expect(edgeForEnv(bad)).toBe(edgeForEnv(bad));
  });
});
