/**
 * The jwt_secrets:* layout (SPEC section 4) read straight from a test's valkey-server, and the invariants one
 * atomic write keeps. Failures name what differs, never the secrets themselves.
 */

import { isDeepStrictEqual } from 'node:util';
import { Valkey } from 'iovalkey';
import { expect } from 'vitest';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { decodeBase64url, fromUtf8 } from '../../shared/base64url.ts';
import { activeKey, type HmacKeyEntry, type Keyset } from '../../shared/keyset.ts';
import { openKeyset, parseKeyset } from '../../shared/keyset-envelope.ts';
import { openingKeysFor } from './keysets.ts';

/** The active secret of a keyset, as jwt_secrets:active holds it. */
export const secretOf = (keyset: Keyset) =>
  fromUtf8(decodeBase64url((activeKey(keyset) as HmacKeyEntry).k) as Uint8Array) as string;

/** Asserts equality of values that hold secrets without printing them: a failure names `what` only. */
export const expectSame = (actual: unknown, expected: unknown, what: string) =>
  expect(isDeepStrictEqual(actual, expected), what).toBe(true);

/** A client that keeps retrying while the server restarts, and never throws on a dropped connection. */
export async function connectAdmin(url: string): Promise<Valkey> {
  const admin = new Valkey(url, { lazyConnect: true, retryStrategy: () => 50 });
  admin.on('error', () => {});
  await admin.connect();
  return admin;
}

/** Every jwt_secrets:* key as a reader sees it (MGET is atomic). */
export async function readLayout(admin: Valkey) {
  const [active, envelope, state, version] = await admin.mget(
    VALKEY_KEYS.active,
    VALKEY_KEYS.keyset,
    VALKEY_KEYS.state,
    VALKEY_KEYS.version,
  );
  const history = await admin.hgetall(VALKEY_KEYS.history);
  return { active, envelope, state, version, history };
}

/**
 * The invariants of one atomic write: the version, the state, jwt_secrets:active, the envelope (opened with
 * `keysetKey` and the test KEYSET_VERIFY_KEY) and the history agree. Returns the keyset and what was read.
 */
export async function expectConsistent(admin: Valkey, keysetKey: Uint8Array) {
  const layout = await readLayout(admin);
  return { keyset: await expectLayoutConsistent(layout, keysetKey), layout };
}

/** The keys of one atomic write, however a layout names them: version, state, active secret, envelope, history. */
export type LayoutValues = Awaited<ReturnType<typeof readLayout>>;

/** Checks the invariants of `layout` (see expectConsistent) and returns its keyset. */
export async function expectLayoutConsistent(layout: LayoutValues, keysetKey: Uint8Array): Promise<Keyset> {
  const keyset = parseKeyset(JSON.parse(layout.state as string));
  expect(layout.version).toBe(String(keyset.version));
  expectSame(layout.active, secretOf(keyset), 'jwt_secrets:active is the active key of the keyset');
  expectSame(
    await openKeyset(layout.envelope as string, openingKeysFor(keysetKey)),
    keyset,
    'the envelope holds the keyset',
  );
  for (const key of keyset.keys) {
    const entry = JSON.parse(layout.history[String(key.version)] as string) as { kid: string; k: string };
    expect(entry.kid).toBe(key.kid);
    expectSame(entry.k, (key as HmacKeyEntry).k, `history holds the secret of version ${key.version}`);
  }
  // Versions only grow: the newest secret ever stored is the active one.
  expect(Math.max(...Object.keys(layout.history).map(Number))).toBe(activeKey(keyset).version);
  return keyset;
}
