import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_DURATION_MS } from '../../shared/duration.ts';
import { rotateKeyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { runMainUntilExit } from '../../test/support/run-main.ts';
import { createTestPki } from '../../test/support/self-signed.ts';
import { loadConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url'); // 64 characters
const KEYSET_KEY = randomBytes(32).toString('base64url');
const KEYSET_SIGNING_KEY = randomBytes(32).toString('base64url');
const BASE = { ADMIN_TOKEN };

// Real PEM files for the TLS variables (they are paths, checked at start-up), and some that are not right.
const pki = await createTestPki('config-test');
const otherPki = await createTestPki('config-other');
const NOT_PEM = join(pki.dir, 'not-pem.txt');
const GARBLED = join(pki.dir, 'garbled.pem');
const MISSING = join(pki.dir, 'missing.pem');
await writeFile(NOT_PEM, 'just some text\n');
await writeFile(
  GARBLED,
  '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
);
afterAll(async () => {
  await pki.remove();
  await otherPki.remove();
});
const VALKEY_TLS = { VALKEY_URL: 'rediss://valkey.internal:6380', KEYSET_KEY, KEYSET_SIGNING_KEY };

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

describe('loadConfig', () => {
  it('applies the SPEC section 3 defaults', () => {
    expect(ADMIN_TOKEN).toHaveLength(64);
    const config = loadConfig(BASE);
    expect(config).toMatchObject({
      adminToken: ADMIN_TOKEN,
      storage: 'env',
      jwtPreviousSecrets: [],
      gracePeriodMs: 24 * 3_600_000,
      keysetCacheTtlMs: 300_000,
      rotationIntervalMs: 90 * 86_400_000,
      edgeUrls: [],
      grpcPort: 50051,
      httpPort: 8080,
      logLevel: 'info',
    });
    expect(config.valkeyUrl).toBeUndefined();
    expect(config.jwtSecret).toBeUndefined();
    expect(config.keysetKey).toBeUndefined();
  });

  it('chooses valkey storage when VALKEY_URL is set, env otherwise, and honours SECRET_STORAGE', () => {
    const valkey = loadConfig({
      ...BASE,
      VALKEY_URL: 'redis://127.0.0.1:6379',
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
    });
    expect(valkey.storage).toBe('valkey');
    expect(valkey.valkeyUrl).toBe('redis://127.0.0.1:6379');
    expect(valkey.keysetKey).toEqual(new Uint8Array(Buffer.from(KEYSET_KEY, 'base64url')));
    expect(valkey.keysetSigningKey).toEqual(new Uint8Array(Buffer.from(KEYSET_SIGNING_KEY, 'base64url')));
    expect(
      loadConfig({
        ...BASE,
        SECRET_STORAGE: 'env',
        VALKEY_URL: 'redis://127.0.0.1:6379',
        KEYSET_KEY,
        KEYSET_SIGNING_KEY,
      }).storage,
    ).toBe('env');
    expect(loadConfig({ ...BASE, SECRET_STORAGE: 'env' }).storage).toBe('env');
  });

  it('chooses valkey storage when VALKEY_SENTINELS or VALKEY_CLUSTER_NODES is set, with their defaults', () => {
    const sentinel = loadConfig({
      ...BASE,
      VALKEY_SENTINELS: 'sentinel-a:26379, 10.0.0.2:26379,[::1]:26380',
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
    });
    expect(sentinel).toMatchObject({
      storage: 'valkey',
      valkeySentinels: [
        { host: 'sentinel-a', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      valkeySentinelMaster: 'mymaster',
      valkeyClusterNodes: [],
      valkeyMinReplicas: 0,
    });
    expect(sentinel.valkeyUrl).toBeUndefined();
    const withUrl = loadConfig({
      ...BASE,
      VALKEY_SENTINELS: 'sentinel-a:26379',
      VALKEY_SENTINEL_MASTER: 'keyward-primary',
      VALKEY_URL: 'rediss://user:pass@ignored-host:6380/2',
      VALKEY_MIN_REPLICAS: '1',
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
    });
    expect(withUrl).toMatchObject({ valkeySentinelMaster: 'keyward-primary', valkeyMinReplicas: 1 });
    expect(withUrl.valkeyUrl).toBe('rediss://user:pass@ignored-host:6380/2');
    const cluster = loadConfig({
      ...BASE,
      VALKEY_CLUSTER_NODES: 'node-1:7000,node-2:7001',
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
    });
    expect(cluster).toMatchObject({
      storage: 'valkey',
      valkeySentinels: [],
      valkeyClusterNodes: [
        { host: 'node-1', port: 7000 },
        { host: 'node-2', port: 7001 },
      ],
    });
    expect(loadConfig(BASE)).toMatchObject({
      valkeySentinels: [],
      valkeyClusterNodes: [],
      valkeyMinReplicas: 0,
    });
  });

  it('parses every documented value form', () => {
    const secret = 'e'.repeat(40);
    const config = loadConfig({
      ...BASE,
      VALKEY_URL: 'rediss://user:pass@valkey.internal:6380/2',
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
      JWT_SECRET: secret,
      JWT_PREVIOUS_SECRETS: ` ${'p'.repeat(32)} , ${'q'.repeat(33)} ,`,
      GRACE_PERIOD: '90d',
      KEYSET_CACHE_TTL: '500ms',
      ROTATION_INTERVAL: 'off',
      EDGE_URLS: 'https://edge-1.example, http://127.0.0.1:8787',
      GRPC_PORT: '0',
      HTTP_PORT: '65535',
      GRPC_TLS_CERT: pki.certPath,
      GRPC_TLS_KEY: pki.keyPath,
      VALKEY_TLS_CA: pki.caCertPath,
      HOST: '::1',
    });
    expect(config).toMatchObject({
      storage: 'valkey',
      jwtSecret: secret,
      jwtPreviousSecrets: ['p'.repeat(32), 'q'.repeat(33)],
      gracePeriodMs: 90 * 86_400_000,
      keysetCacheTtlMs: 500,
      rotationIntervalMs: null,
      edgeUrls: ['https://edge-1.example', 'http://127.0.0.1:8787'],
      grpcPort: 0,
      httpPort: 65535,
      grpcTlsCert: pki.certPath,
      grpcTlsKey: pki.keyPath,
      valkeyTlsCa: pki.caCertPath,
      host: '::1',
    });
    for (const host of ['0.0.0.0', '127.0.0.1', '::', 'localhost', 'control-plane.internal']) {
      expect(loadConfig({ ...BASE, HOST: host }).host).toBe(host);
    }
    expect(loadConfig({ ...BASE, GRACE_PERIOD: '3600' }).gracePeriodMs).toBe(3_600_000);
    expect(loadConfig({ ...BASE, KEYSET_CACHE_TTL: '300s' }).keysetCacheTtlMs).toBe(300_000);
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: '24h' }).rotationIntervalMs).toBe(86_400_000);
  });

  it('takes PUSH_CONCURRENCY (64), PUSH_TIMEOUT (2s) and PUSH_BUDGET (5s), and refuses values out of range by name', () => {
    expect(loadConfig(BASE)).toMatchObject({
      pushConcurrency: 64,
      pushTimeoutMs: 2_000,
      pushBudgetMs: 5_000,
    });
    expect(
      loadConfig({ ...BASE, PUSH_CONCURRENCY: '256', PUSH_TIMEOUT: '750ms', PUSH_BUDGET: '30s' }),
    ).toMatchObject({ pushConcurrency: 256, pushTimeoutMs: 750, pushBudgetMs: 30_000 });
    for (const bad of ['0', '-1', '1.5', 'lots', '', '4097']) {
      const error = configError({ ...BASE, PUSH_CONCURRENCY: bad });
      expect(error.variable).toBe('PUSH_CONCURRENCY');
      expect(error.message).toBe('PUSH_CONCURRENCY: expected a whole number from 1 to 4096');
    }
    expect(configError({ ...BASE, PUSH_TIMEOUT: '0' }).message).toBe('PUSH_TIMEOUT: must be from 10ms to 5m');
    expect(configError({ ...BASE, PUSH_TIMEOUT: '1h' }).message).toBe(
      'PUSH_TIMEOUT: must be from 10ms to 5m',
    );
    expect(configError({ ...BASE, PUSH_TIMEOUT: 'soon' }).variable).toBe('PUSH_TIMEOUT');
    expect(configError({ ...BASE, PUSH_BUDGET: '5ms' }).message).toBe(
      'PUSH_BUDGET: must be from 10ms to 10m',
    );
    expect(configError({ ...BASE, PUSH_BUDGET: '11m' }).variable).toBe('PUSH_BUDGET');
  });

  it('takes ROTATION_LEAD (1h by default; off or 0: one-step rotation) only shorter than ROTATION_INTERVAL', () => {
    expect(loadConfig(BASE)).toMatchObject({
      rotationIntervalMs: 90 * 86_400_000,
      rotationLeadMs: 3_600_000,
    });
    expect(loadConfig({ ...BASE, ROTATION_LEAD: 'off' }).rotationLeadMs).toBe(0);
    expect(loadConfig({ ...BASE, ROTATION_LEAD: '0' }).rotationLeadMs).toBe(0);
    expect(loadConfig({ ...BASE, ROTATION_LEAD: '15m' }).rotationLeadMs).toBe(900_000);
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: '2h', ROTATION_LEAD: '7199s' }).rotationLeadMs).toBe(
      7_199_000,
    );
    // Without a schedule the lead is unused: any valid duration passes.
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: 'off', ROTATION_LEAD: '365d' }).rotationLeadMs).toBe(
      365 * 86_400_000,
    );
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: '30m', ROTATION_LEAD: 'off' })).toMatchObject({
      rotationIntervalMs: 1_800_000,
      rotationLeadMs: 0,
    });
    const equal = configError({ ...BASE, ROTATION_INTERVAL: '2h', ROTATION_LEAD: '120m' });
    expect(equal.variable).toBe('ROTATION_LEAD');
    expect(equal.message).toBe(
      'ROTATION_LEAD: must be shorter than ROTATION_INTERVAL (the next key is staged ROTATION_LEAD before it is due), or "off"',
    );
  });

  it('fits an unset ROTATION_LEAD to ROTATION_INTERVAL: 1h, or half an interval of 1h or less (3600 starts as it did before ROTATION_LEAD)', () => {
    const lead = (interval: string) => loadConfig({ ...BASE, ROTATION_INTERVAL: interval }).rotationLeadMs;
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: '3600' })).toMatchObject({
      rotationIntervalMs: 3_600_000,
      rotationLeadMs: 1_800_000,
    });
    expect(lead('1h')).toBe(1_800_000);
    expect(lead('30m')).toBe(900_000);
    expect(lead('61m')).toBe(3_600_000);
    expect(lead('90m')).toBe(3_600_000);
    expect(lead('2h')).toBe(3_600_000);
    expect(lead('24h')).toBe(3_600_000);
    expect(lead('90d')).toBe(3_600_000);
    expect(lead('1s')).toBe(500);
    expect(lead('off')).toBe(3_600_000);
    // Set, it is taken as given, up to the interval.
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: '1h', ROTATION_LEAD: '45m' }).rotationLeadMs).toBe(
      2_700_000,
    );
    expect(loadConfig({ ...BASE, ROTATION_INTERVAL: '1h', ROTATION_LEAD: 'off' }).rotationLeadMs).toBe(0);
    for (const explicit of ['1h', '3600', '2h']) {
      const error = configError({ ...BASE, ROTATION_INTERVAL: '3600', ROTATION_LEAD: explicit });
      expect(error.variable).toBe('ROTATION_LEAD');
      expect(error.message).toContain('ROTATION_LEAD: must be shorter than ROTATION_INTERVAL');
    }
  });

  it('refuses a missing ADMIN_TOKEN or one of 63 characters, without echoing it', () => {
    expect(configError({}).variable).toBe('ADMIN_TOKEN');
    expect(configError({}).message).toContain('ADMIN_TOKEN');
    const short = ADMIN_TOKEN.slice(0, 63);
    const error = configError({ ADMIN_TOKEN: short });
    expect(error.variable).toBe('ADMIN_TOKEN');
    expect(error.message).toContain('ADMIN_TOKEN');
    expect(error.message).toContain('64');
    expect(error.message).not.toContain(short);
    expect(error.message).not.toContain(short.slice(0, 16));
    expect(String(error.stack)).not.toContain(short.slice(0, 16));
    expect(configError({ ADMIN_TOKEN: '' }).variable).toBe('ADMIN_TOKEN');
    // Counted in characters: 63 emoji are 126 UTF-16 units but fewer than 64 characters; 64 are enough.
    expect(configError({ ADMIN_TOKEN: '🔑'.repeat(63) }).variable).toBe('ADMIN_TOKEN');
    expect(loadConfig({ ...BASE, ADMIN_TOKEN: '🔑'.repeat(64) }).adminToken).toBe('🔑'.repeat(64));
  });

  const BAD: Array<[string, Record<string, string>]> = [
    ['SECRET_STORAGE', { SECRET_STORAGE: 'memory' }],
    ['SECRET_STORAGE', { SECRET_STORAGE: '' }],
    ['VALKEY_URL', { VALKEY_URL: 'http://valkey:6379', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { VALKEY_URL: 'valkey:6379', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { VALKEY_URL: '', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { VALKEY_URL: 'redis://valkey:6379/3x', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { VALKEY_URL: 'redis://valkey:6379/abc', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { VALKEY_URL: 'redis://valkey:6379/02', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { VALKEY_URL: 'redis://valkey:6379/1/2', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_URL', { SECRET_STORAGE: 'valkey', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_SENTINELS', { VALKEY_SENTINELS: 'sentinel-a', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    [
      'VALKEY_SENTINELS',
      { VALKEY_SENTINELS: 'sentinel-a:26379,sentinel-b:0', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    ['VALKEY_SENTINELS', { VALKEY_SENTINELS: 'sentinel-a:99999', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_SENTINELS', { VALKEY_SENTINELS: 'redis://sentinel-a:26379', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['VALKEY_SENTINELS', { VALKEY_SENTINELS: '::1:26379', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    [
      'VALKEY_SENTINEL_MASTER',
      { VALKEY_SENTINELS: 'a:1', VALKEY_SENTINEL_MASTER: '', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_SENTINEL_MASTER',
      { VALKEY_SENTINELS: 'a:1', VALKEY_SENTINEL_MASTER: 'my master', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_CLUSTER_NODES',
      { VALKEY_CLUSTER_NODES: 'node-1:7000,node 2:7001', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_CLUSTER_NODES',
      { VALKEY_CLUSTER_NODES: 'a:1', VALKEY_SENTINELS: 'b:2', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_URL',
      { VALKEY_CLUSTER_NODES: 'a:1', VALKEY_URL: 'redis://a:1/3', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_MIN_REPLICAS',
      { VALKEY_URL: 'redis://a:1', VALKEY_MIN_REPLICAS: '-1', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_MIN_REPLICAS',
      { VALKEY_URL: 'redis://a:1', VALKEY_MIN_REPLICAS: '1.5', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_MIN_REPLICAS',
      { VALKEY_URL: 'redis://a:1', VALKEY_MIN_REPLICAS: 'one', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    [
      'VALKEY_MIN_REPLICAS',
      { VALKEY_URL: 'redis://a:1', VALKEY_MIN_REPLICAS: '', KEYSET_KEY, KEYSET_SIGNING_KEY },
    ],
    ['VALKEY_MIN_REPLICAS', { VALKEY_MIN_REPLICAS: '1' }],
    ['KEYSET_SIGNING_KEY', { VALKEY_SENTINELS: 'sentinel-a:26379' }],
    ['KEYSET_SIGNING_KEY', { VALKEY_CLUSTER_NODES: 'node-1:7000' }],
    ['GRACE_PERIOD', { GRACE_PERIOD: '1.5h' }],
    ['GRACE_PERIOD', { GRACE_PERIOD: '-1s' }],
    ['GRACE_PERIOD', { GRACE_PERIOD: '24 hours' }],
    ['GRACE_PERIOD', { GRACE_PERIOD: '' }],
    ['KEYSET_CACHE_TTL', { KEYSET_CACHE_TTL: '5w' }],
    ['KEYSET_CACHE_TTL', { KEYSET_CACHE_TTL: 'soon' }],
    ['ROTATION_INTERVAL', { ROTATION_INTERVAL: '0' }],
    ['ROTATION_INTERVAL', { ROTATION_INTERVAL: 'never' }],
    ['ROTATION_INTERVAL', { ROTATION_INTERVAL: '90 days' }],
    ['ROTATION_INTERVAL', { ROTATION_INTERVAL: '99999999999999999d' }],
    ['ROTATION_LEAD', { ROTATION_LEAD: 'soon' }],
    ['ROTATION_LEAD', { ROTATION_LEAD: '-1h' }],
    ['ROTATION_LEAD', { ROTATION_LEAD: '' }],
    ['ROTATION_LEAD', { ROTATION_LEAD: '36501d', ROTATION_INTERVAL: 'off' }],
    ['ROTATION_LEAD', { ROTATION_INTERVAL: '1h', ROTATION_LEAD: '1h' }],
    ['ROTATION_LEAD', { ROTATION_INTERVAL: '30m', ROTATION_LEAD: '1h' }],
    ['ROTATION_LEAD', { ROTATION_INTERVAL: '24h', ROTATION_LEAD: '25h' }],
    ['EDGE_URLS', { EDGE_URLS: 'ftp://edge.example', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['EDGE_URLS', { EDGE_URLS: 'https://edge.example,not a url', KEYSET_KEY, KEYSET_SIGNING_KEY }],
    ['KEYSET_KEY', { KEYSET_KEY: 'too-short' }],
    ['KEYSET_KEY', { KEYSET_KEY: randomBytes(32).toString('base64') }],
    ['KEYSET_KEY', { KEYSET_KEY: randomBytes(16).toString('base64url') }],
    ['KEYSET_SIGNING_KEY', { VALKEY_URL: 'redis://127.0.0.1:6379' }],
    ['KEYSET_SIGNING_KEY', { EDGE_URLS: 'https://edge.example' }],
    ['KEYSET_SIGNING_KEY', { VALKEY_URL: 'redis://127.0.0.1:6379', KEYSET_KEY }],
    ['KEYSET_SIGNING_KEY', { EDGE_URLS: 'https://edge.example', KEYSET_KEY }],
    ['KEYSET_SIGNING_KEY', { KEYSET_SIGNING_KEY: 'too-short' }],
    ['KEYSET_SIGNING_KEY', { KEYSET_SIGNING_KEY: randomBytes(32).toString('base64') }],
    ['KEYSET_SIGNING_KEY', { KEYSET_SIGNING_KEY: randomBytes(64).toString('base64url') }],
    ['GRPC_PORT', { GRPC_PORT: '65536' }],
    ['GRPC_PORT', { GRPC_PORT: '-1' }],
    ['GRPC_PORT', { GRPC_PORT: 'grpc' }],
    ['GRPC_PORT', { GRPC_PORT: '50051.5' }],
    ['GRPC_PORT', { GRPC_PORT: '' }],
    ['GRPC_PORT', { GRPC_PORT: '0x50' }],
    ['HTTP_PORT', { HTTP_PORT: '99999' }],
    ['HTTP_PORT', { HTTP_PORT: ' ' }],
    ['HTTP_PORT', { HTTP_PORT: '1e3' }],
    ['HOST', { HOST: '' }],
    ['HOST', { HOST: 'not a host' }],
    ['HOST', { HOST: 'host_name' }],
    ['HOST', { HOST: '-edge' }],
    ['HOST', { HOST: '127.0.0.1:50051' }],
    ['GRPC_TLS_KEY', { GRPC_TLS_CERT: pki.certPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_CERT: '', GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_CERT: MISSING, GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_CERT: pki.dir, GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_CERT: NOT_PEM, GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_CERT: GARBLED, GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_CERT', { GRPC_TLS_CERT: pki.keyPath, GRPC_TLS_KEY: pki.keyPath }],
    ['GRPC_TLS_KEY', { GRPC_TLS_CERT: pki.certPath, GRPC_TLS_KEY: '' }],
    ['GRPC_TLS_KEY', { GRPC_TLS_CERT: pki.certPath, GRPC_TLS_KEY: MISSING }],
    ['GRPC_TLS_KEY', { GRPC_TLS_CERT: pki.certPath, GRPC_TLS_KEY: NOT_PEM }],
    ['GRPC_TLS_KEY', { GRPC_TLS_CERT: pki.certPath, GRPC_TLS_KEY: pki.certPath }],
    ['GRPC_TLS_KEY', { GRPC_TLS_CERT: pki.certPath, GRPC_TLS_KEY: otherPki.keyPath }],
    ['VALKEY_TLS_CA', { ...VALKEY_TLS, VALKEY_TLS_CA: '' }],
    ['VALKEY_TLS_CA', { ...VALKEY_TLS, VALKEY_TLS_CA: MISSING }],
    ['VALKEY_TLS_CA', { ...VALKEY_TLS, VALKEY_TLS_CA: NOT_PEM }],
    ['VALKEY_TLS_CA', { ...VALKEY_TLS, VALKEY_TLS_CA: GARBLED }],
    ['VALKEY_TLS_CA', { ...VALKEY_TLS, VALKEY_TLS_CA: pki.keyPath }],
    [
      'VALKEY_TLS_CA',
      {
        VALKEY_URL: 'redis://valkey.internal:6379',
        KEYSET_KEY,
        KEYSET_SIGNING_KEY,
        VALKEY_TLS_CA: pki.caCertPath,
      },
    ],
    ['VALKEY_TLS_CA', { ...VALKEY_TLS, SECRET_STORAGE: 'env', VALKEY_TLS_CA: pki.caCertPath }],
    ['VALKEY_TLS_CA', { VALKEY_TLS_CA: pki.caCertPath }],
    ['JWT_SECRET', { JWT_SECRET: 'x'.repeat(31) }],
    ['JWT_PREVIOUS_SECRETS', { JWT_PREVIOUS_SECRETS: `${'x'.repeat(32)},tooshort` }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['LOG_LEVEL', { LOG_LEVEL: '' }],
  ];

  it('takes Valkey storage and EDGE_URLS without KEYSET_KEY: the keyset then holds public keys only', () => {
    const config = loadConfig({
      ...BASE,
      VALKEY_URL: 'redis://127.0.0.1:6379',
      EDGE_URLS: 'https://edge.example',
      KEYSET_SIGNING_KEY,
    });
    expect(config.storage).toBe('valkey');
    expect(config.keysetKey).toBeUndefined();
  });

  it.each(BAD)('refuses a bad %s, naming it (%j)', (variable, env) => {
    const error = configError({ ...BASE, ...env });
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    // The admin token never appears in a configuration error, whichever variable is wrong.
    expect(error.message).not.toContain(ADMIN_TOKEN);
  });

  it.each(['GRACE_PERIOD', 'KEYSET_CACHE_TTL', 'ROTATION_INTERVAL'])(
    'caps %s at 100 years: longer overflows a Date once added to now, so every rotation failed',
    async (variable) => {
      for (const text of ['99999999d', '36501d', '3153600001', '876001h']) {
        const error = configError({ ...BASE, [variable]: text });
        expect(error.variable).toBe(variable);
        expect(error.message).toMatch(new RegExp(`^${variable}: .*at most 36500d \\(100 years\\)`));
      }
      const longest = loadConfig({ ...BASE, [variable]: '36500d' });
      expect(longest).toMatchObject(
        {
          GRACE_PERIOD: { gracePeriodMs: MAX_DURATION_MS },
          KEYSET_CACHE_TTL: { keysetCacheTtlMs: MAX_DURATION_MS },
          ROTATION_INTERVAL: { rotationIntervalMs: MAX_DURATION_MS },
        }[variable] as object,
      );
      // The longest grace period still gives a superseded key a valid expiry.
      const secrets = ['a', 'b'].map((c) => c.repeat(32));
      const first = rotateKeyset(
        null,
        { secret: secrets[0] as string, kid: await computeKid(secrets[0] as string) },
        { now: new Date(), gracePeriodMs: longest.gracePeriodMs },
      );
      const second = rotateKeyset(
        first,
        { secret: secrets[1] as string, kid: await computeKid(secrets[1] as string) },
        { now: new Date(), gracePeriodMs: longest.gracePeriodMs },
      );
      expect(Date.parse(second.keys[1]?.expires_at as string)).toBeGreaterThan(Date.now());
    },
  );

  it('does not echo secret values in its errors', () => {
    const weak = 'weak-secret-value-abc';
    expect(configError({ ...BASE, JWT_SECRET: weak }).message).not.toContain(weak);
    const valkeyPassword = 'hunter2-valkey-password';
    const error = configError({
      ...BASE,
      VALKEY_URL: `http://user:${valkeyPassword}@valkey:6379`,
      KEYSET_KEY,
      KEYSET_SIGNING_KEY,
    });
    expect(error.message).not.toContain(valkeyPassword);
    const badKey = randomBytes(31).toString('base64url');
    expect(configError({ ...BASE, KEYSET_KEY: badKey }).message).not.toContain(badKey);
    expect(configError({ ...BASE, KEYSET_SIGNING_KEY: badKey }).message).not.toContain(badKey);
    // A private key given where a certificate belongs: named by path, never quoted.
    const keyBody = pki.keyPem.split('\n')[1] as string;
    for (const env of [
      { GRPC_TLS_CERT: pki.keyPath, GRPC_TLS_KEY: pki.keyPath },
      { ...VALKEY_TLS, VALKEY_TLS_CA: pki.keyPath },
    ]) {
      const error = configError({ ...BASE, ...env });
      expect(error.message).toContain(pki.keyPath);
      expect(error.message).not.toContain(keyBody);
    }
  });
});

describe('control-plane/src/main.ts', () => {
  it('exits non-zero with GRACE_PERIOD=99999999d, naming GRACE_PERIOD, before it listens', async () => {
    const { code, output } = await runMainUntilExit({
      ADMIN_TOKEN,
      GRACE_PERIOD: '99999999d',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
    });
    expect(code).not.toBeNull();
    expect(code).not.toBe(0);
    expect(output).toContain('GRACE_PERIOD');
    expect(output).not.toContain('listening');
    expect(output).not.toContain(ADMIN_TOKEN);
  });

  it('exits non-zero with ROTATION_LEAD not shorter than ROTATION_INTERVAL, naming ROTATION_LEAD, before it listens', async () => {
    const { code, output } = await runMainUntilExit({
      ADMIN_TOKEN,
      ROTATION_INTERVAL: '1h',
      ROTATION_LEAD: '1h',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
    });
    expect(code).not.toBeNull();
    expect(code).not.toBe(0);
    expect(output).toContain('ROTATION_LEAD: must be shorter than ROTATION_INTERVAL');
    expect(output).not.toContain('listening');
  });

  it('exits non-zero with a too-short ADMIN_TOKEN, naming ADMIN_TOKEN on stderr and not echoing it', async () => {
    const short = ADMIN_TOKEN.slice(0, 20);
    const { code, stdout, stderr } = await runMainUntilExit({
      ADMIN_TOKEN: short,
      GRPC_PORT: '0',
      HTTP_PORT: '0',
    });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stderr).toContain('ADMIN_TOKEN');
    expect(stderr + stdout).not.toContain(short);
  });
});
