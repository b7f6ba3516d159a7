import { describe, expect, it } from 'vitest';
import { KEYSET_KEY } from '../../../test/support/keysets.ts';
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
    const config = parseEdgeConfig({ KEYSET_KEY });
    expect(config).toMatchObject({
      keysetTtlMs: 300_000,
      clockToleranceMs: 30_000,
      algorithms: ['HS256'],
      maxTokenBytes: 8192,
      issuer: undefined,
      audience: undefined,
      keysetUrl: undefined,
      upstash: undefined,
      kv: undefined,
      verifyCacheSize: 10_000,
      maxStalenessMs: Number.POSITIVE_INFINITY,
    });
    expect(config.keysetKey).toHaveLength(32);
  });

  it('reads every variable', () => {
    const config = parseEdgeConfig({
      KEYSET_KEY,
      KEYSET_URL: 'http://127.0.0.1:8080/keyset',
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
      UPSTASH_REDIS_REST_TOKEN: 'token',
      KEYSET_TTL: '5m',
      JWT_ISSUER: 'https://issuer.test',
      JWT_AUDIENCE: 'api',
      JWT_ALGORITHMS: ' HS512 , HS256,HS512 ',
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
      algorithms: ['HS512', 'HS256'],
      clockToleranceMs: 0,
      maxTokenBytes: 4096,
      verifyCacheSize: 0,
      maxStalenessMs: 3_600_000,
    });
  });

  it('refuses bad values with a message naming the variable', () => {
    expect(configError({})).toMatch(/^KEYSET_KEY: is required/);
    expect(configError({ KEYSET_KEY: 'short' })).toMatch(/^KEYSET_KEY: /);
    expect(configError({ KEYSET_KEY, JWT_ALGORITHMS: 'none' })).toMatch(
      /^JWT_ALGORITHMS: "none" is never allowed/,
    );
    expect(configError({ KEYSET_KEY, JWT_ALGORITHMS: 'HS256,None' })).toMatch(/^JWT_ALGORITHMS: "none"/);
    expect(configError({ KEYSET_KEY, JWT_ALGORITHMS: 'RS256' })).toMatch(/^JWT_ALGORITHMS: unsupported/);
    expect(configError({ KEYSET_KEY, JWT_ALGORITHMS: ' , ' })).toMatch(/^JWT_ALGORITHMS: /);
    expect(configError({ KEYSET_KEY, KEYSET_TTL: 'soon' })).toMatch(/^KEYSET_TTL: /);
    expect(configError({ KEYSET_KEY, KEYSET_TTL: '0s' })).toMatch(/^KEYSET_TTL: /);
    expect(configError({ KEYSET_KEY, CLOCK_TOLERANCE: '-1' })).toMatch(/^CLOCK_TOLERANCE: /);
    expect(configError({ KEYSET_KEY, MAX_TOKEN_BYTES: '1e3' })).toMatch(/^MAX_TOKEN_BYTES: /);
    expect(configError({ KEYSET_KEY, KEYSET_URL: 'ftp://x' })).toMatch(/^KEYSET_URL: /);
    expect(configError({ KEYSET_KEY, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' })).toMatch(
      /^UPSTASH_REDIS_REST_TOKEN: /,
    );
    expect(configError({ KEYSET_KEY, UPSTASH_REDIS_REST_TOKEN: 't' })).toMatch(/^UPSTASH_REDIS_REST_URL: /);
    expect(configError({ KEYSET_KEY, KEYSETS: 'not a binding' })).toMatch(/^KEYSETS: /);
    expect(configError({ KEYSET_KEY, VERIFY_CACHE_SIZE: '-1' })).toMatch(/^VERIFY_CACHE_SIZE: /);
    expect(configError({ KEYSET_KEY, VERIFY_CACHE_SIZE: 'big' })).toMatch(/^VERIFY_CACHE_SIZE: /);
    expect(configError({ KEYSET_KEY, MAX_TOKEN_BYTES: '0' })).toMatch(/^MAX_TOKEN_BYTES: /);
    const url = 'http://127.0.0.1:8080/keyset';
    expect(configError({ KEYSET_KEY, KEYSET_URL: url, KEYSET_MAX_STALENESS: 'never' })).toMatch(
      /^KEYSET_MAX_STALENESS: /,
    );
  });

  it('parses once per env object: the Worker keeps one edge per env', () => {
    const env = { KEYSET_KEY };
    expect(edgeForEnv(env)).toBe(edgeForEnv(env));
    expect(edgeForEnv({ KEYSET_KEY })).not.toBe(edgeForEnv(env));
    const bad = { KEYSET_KEY, JWT_ALGORITHMS: 'none' };
    expect(edgeForEnv(bad)).toBeInstanceOf(EdgeError);
    expect(edgeForEnv(bad)).toBe(edgeForEnv(bad));
  });
});
