/**
 * wrangler.toml (SPEC section 1 names it) is safe as shipped: read as wrangler reads it (environments,
 * inheritance), every deployable environment has no workers.dev or preview URL, a route, an origin to pull from
 * (KEYSET_URL) and a staleness bound, crons, no secret among its vars, and vars the edge's own parser accepts;
 * the top level, which a bare `wrangler deploy` would upload, is reachable by nothing. Each environment then
 * bundles with `wrangler deploy --dry-run` without a warning (an unknown field would be one).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge/src/config.ts';
import type { EdgeEnv } from '../../edge/src/env.ts';
import { ROOT } from '../support/edge-processes.ts';
import { KEYSET_VERIFY_KEY } from '../support/keysets.ts';
import { readWranglerConfig, WRANGLER_CONFIG } from '../support/wrangler-config.ts';

const ENVIRONMENTS = ['staging', 'production'];
/** Names that hold a secret somewhere in Keyward: none may be a plain-text var. */
const SECRET_NAME = /KEYSET_KEY|SIGNING_KEY|ADMIN_TOKEN|TOKEN|SECRET|PASSWORD|VALKEY_URL/;

function expectNoSecretVars(vars: Record<string, string>): void {
  expect(Object.keys(vars).filter((name) => SECRET_NAME.test(name) && name !== 'KEYSET_VERIFY_KEY')).toEqual(
    [],
  );
  // Nor a value that looks like a 32-byte base64url key (KEYSET_KEY's shape) under another name.
  expect(Object.values(vars).filter((value) => /^[A-Za-z0-9_-]{43}$/.test(value))).toEqual([]);
}

describe('wrangler.toml', () => {
  it('is the only wrangler configuration, with only the staging and production environments', () => {
    const raw = readFileSync(WRANGLER_CONFIG, 'utf8');
    // Beside a wrangler.json or wrangler.jsonc, wrangler would read one file and leave the other unused.
    expect(existsSync(join(ROOT, 'wrangler.json'))).toBe(false);
    expect(existsSync(join(ROOT, 'wrangler.jsonc'))).toBe(false);
    // Every environment the file defines is checked below.
    expect([...raw.matchAll(/^\[env\.(\w+)\]$/gm)].map((match) => match[1])).toEqual(ENVIRONMENTS);
  });

  it('top level (bare deploy, wrangler dev, the tests): no workers.dev, no preview URLs, no route, no secrets', () => {
    const top = readWranglerConfig();
    expect(top.workersDev).toBe(false);
    expect(top.previewUrls).toBe(false);
    expect(top.routes).toEqual([]);
    expectNoSecretVars(top.vars);
  });

  for (const env of ENVIRONMENTS) {
    it(`--env ${env}: a route and no workers.dev, an origin, a staleness bound, crons, no secrets`, () => {
      const config = readWranglerConfig(env);
      expect(config.name).toBe(`keyward-edge-${env}`);
      expect(config.workersDev).toBe(false);
      expect(config.previewUrls).toBe(false);
      expect(config.routes.length).toBeGreaterThan(0);
      expect(config.crons.length).toBeGreaterThan(0);
      expect(config.vars.KEYSET_URL).toMatch(/^https:\/\/[^/]+\/keyset$/);
      expect(config.vars.KEYSET_MAX_STALENESS).toBeDefined();
      expect(config.vars.KEYSET_MAX_STALENESS?.toLowerCase()).not.toBe('off');
      expectNoSecretVars(config.vars);
      // The edge's own parser takes these vars with the one setting a deployment adds (KEYSET_VERIFY_KEY):
      // KEYSET_MAX_STALENESS above KEYSET_TTL, with an origin that can confirm.
      const edge = parseEdgeConfig({ ...config.vars, KEYSET_VERIFY_KEY } as EdgeEnv);
      expect(edge.keysetUrl).toBe(config.vars.KEYSET_URL);
      expect(edge.maxStalenessMs).toBeGreaterThan(edge.keysetTtlMs);
      expect(Number.isFinite(edge.maxStalenessMs)).toBe(true);
    });
  }

  it('bundles for each environment with `wrangler deploy --dry-run`, without a warning', () => {
    for (const env of ENVIRONMENTS) {
      const outdir = mkdtempSync(join(tmpdir(), `keyward-wrangler-${env}-`));
      try {
        const run = spawnSync(
          process.execPath,
          [
            join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
            'deploy',
            '--dry-run',
            '--env',
            env,
            '--outdir',
            outdir,
          ],
          {
            cwd: ROOT,
            encoding: 'utf8',
            timeout: 120_000,
            env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
          },
        );
        const output = `${run.stdout}${run.stderr}`;
        expect(run.status, output).toBe(0);
        expect(output).not.toMatch(/WARNING|Unexpected fields/);
        expect(output).toContain(`env.KEYSET_URL`);
        expect(existsSync(join(outdir, 'worker.js'))).toBe(true);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    }
  }, 300_000);
});
