/** withSecretFiles for every edge secret: KEYSET_KEY_FILE (also on the real entries, secret-files.test.ts) and UPSTASH_REDIS_REST_TOKEN_FILE. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_SECRET_FILE_VARIABLES, withSecretFiles } from '../../src/runtime/secret-files.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyward-edge-secret-variables-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('withSecretFiles', () => {
  it('reads each edge secret from NAME_FILE, trailing newline dropped', async () => {
    expect(EDGE_SECRET_FILE_VARIABLES).toEqual(['KEYSET_KEY', 'UPSTASH_REDIS_REST_TOKEN']);
    const env: Record<string, string> = { UPSTASH_REDIS_REST_URL: 'https://upstash.internal' };
    for (const name of EDGE_SECRET_FILE_VARIABLES) {
      const path = join(dir, name);
      await writeFile(path, `value of ${name}\n`);
      env[`${name}_FILE`] = path;
    }
    expect(withSecretFiles(env)).toEqual({
      UPSTASH_REDIS_REST_URL: 'https://upstash.internal',
      KEYSET_KEY: 'value of KEYSET_KEY',
      UPSTASH_REDIS_REST_TOKEN: 'value of UPSTASH_REDIS_REST_TOKEN',
    });
  });

  it('refuses UPSTASH_REDIS_REST_TOKEN together with its _FILE, and an unreadable file, never showing a value', () => {
    expect(() =>
      withSecretFiles({ UPSTASH_REDIS_REST_TOKEN: 'inline-token', UPSTASH_REDIS_REST_TOKEN_FILE: '/x' }),
    ).toThrow(
      /^UPSTASH_REDIS_REST_TOKEN: set UPSTASH_REDIS_REST_TOKEN or UPSTASH_REDIS_REST_TOKEN_FILE, not both$/,
    );
    const absent = join(dir, 'absent');
    expect(() => withSecretFiles({ UPSTASH_REDIS_REST_TOKEN_FILE: absent })).toThrow(
      `UPSTASH_REDIS_REST_TOKEN_FILE: cannot read ${absent} (ENOENT)`,
    );
  });
});
