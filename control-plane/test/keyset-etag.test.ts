/**
 * GET /keyset's ETag names the envelope, not its version: two control planes whose storage holds different
 * keysets under the same version number (what a restore from a backup makes) never vouch for each other's
 * envelope with a 304. Real HTTP servers on loopback.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEnvKeysetManager } from '../../test/support/env-keyset-manager.ts';
import { createHttpApp, startHttpServer } from '../src/http-server.ts';
import type { KeysetManager } from '../src/keyset/keyset-manager.ts';

const KEYSET_KEY = randomBytes(32);
const servers: { url: string; manager: KeysetManager; close(): Promise<void> }[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const manager = await startEnvKeysetManager(KEYSET_KEY);
    const http = await startHttpServer(createHttpApp({ manager }), { host: '127.0.0.1', port: 0 });
    servers.push({ url: `http://127.0.0.1:${http.port}/keyset`, manager, close: http.close });
  }
});

afterAll(async () => {
  for (const server of servers) {
    await server.close();
    await server.manager.stop();
  }
});

it('gives two envelopes of the same version different ETags, and a 304 only for the exact one held', async () => {
  const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
  expect((await a.manager.keyset()).keyset.version).toBe((await b.manager.keyset()).keyset.version);
  const first = await fetch(a.url);
  const second = await fetch(b.url);
  const etagA = first.headers.get('etag') as string;
  const etagB = second.headers.get('etag') as string;
  expect(etagA).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
  expect(etagB).not.toBe(etagA);
  expect(await first.text()).not.toBe(await second.text());

  const same = await fetch(a.url, { headers: { 'if-none-match': etagA } });
  expect(same.status).toBe(304);
  // The other control plane's ETag for "the same version" is no confirmation here: the envelope comes whole.
  const other = await fetch(a.url, { headers: { 'if-none-match': etagB } });
  expect(other.status).toBe(200);
  expect(await other.text()).toBe((await a.manager.keyset()).envelope);
  const byVersion = await fetch(a.url, { headers: { 'if-none-match': '"v1"' } });
  expect(byVersion.status).toBe(200);
  await byVersion.body?.cancel();
});
