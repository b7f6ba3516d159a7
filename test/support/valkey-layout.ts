/**
 * The jwt_secrets:* layout (SPEC sections 4 and 8) read straight from a test's valkey-server, and the invariants
 * one atomic write keeps. Failures name what differs, never the secrets or private keys themselves.
 */

import { isDeepStrictEqual } from 'node:util';
import { Valkey } from 'iovalkey';
import { expect } from 'vitest';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { decodeBase64url, fromUtf8 } from '../../shared/base64url.ts';
import {
  activeKey,
  type HmacKeyEntry,
  type Keyset,
  legacyActiveSecret,
  publicKeyset,
  signingJwk,
} from '../../shared/keyset.ts';
import { holdsSecrets, openKeyset, parseKeyset } from '../../shared/keyset-envelope.ts';
import { openingKeysFor } from './keysets.ts';

/** The active secret of an HS256 keyset, as jwt_secrets:active holds it. */
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
  const [active, envelope, state, version, signingKey] = await admin.mget(
    VALKEY_KEYS.active,
    VALKEY_KEYS.keyset,
    VALKEY_KEYS.state,
    VALKEY_KEYS.version,
    VALKEY_KEYS.signingKey,
  );
  const history = await admin.hgetall(VALKEY_KEYS.history);
  return { active, envelope, state, version, signingKey, history };
}

/**
 * The invariants of one atomic write: the version, the state, jwt_secrets:active, jwt_secrets:signing_key, the
 * envelope (opened with `keysetKey` and the test KEYSET_VERIFY_KEY) and the history agree. Returns the keyset
 * and what was read.
 */
export async function expectConsistent(admin: Valkey, keysetKey: Uint8Array) {
  const layout = await readLayout(admin);
  return { keyset: await expectLayoutConsistent(layout, keysetKey), layout };
}

/** The keys of one atomic write, however a layout names them. */
export type LayoutValues = Awaited<ReturnType<typeof readLayout>>;

/** The members a history entry keeps of a key: the secret of HS256, the public JWK of a key pair. */
function historyMembers(key: Keyset['keys'][number]): Record<string, unknown> {
  const { version, kid, created_at } = key;
  if (key.alg === 'HS256') return { version, kid, k: key.k, created_at };
  const { alg, kty, crv, x } = key;
  return { version, kid, alg, kty, crv, x, ...(key.alg === 'ES256' ? { y: key.y } : {}), created_at };
}

/** Checks the invariants of `layout` (see expectConsistent) and returns its keyset (private keys included). */
export async function expectLayoutConsistent(layout: LayoutValues, keysetKey: Uint8Array): Promise<Keyset> {
  const keyset = parseKeyset(JSON.parse(layout.state as string), { private: true });
  expect(layout.version).toBe(String(keyset.version));
  // The active HS256 secret, else the newest previous one; the key is absent once no HS256 key is left.
  expectSame(layout.active, legacyActiveSecret(keyset), 'jwt_secrets:active follows the keyset');
  expectSame(
    JSON.parse(layout.signingKey as string),
    signingJwk(keyset),
    'jwt_secrets:signing_key is the active key as a private JWK',
  );
  const envelope = layout.envelope as string;
  expect(envelope.split('.')).toHaveLength(holdsSecrets(keyset) ? 5 : 3);
  expectSame(
    await openKeyset(envelope, openingKeysFor(keysetKey)),
    publicKeyset(keyset),
    'the envelope holds the keyset without private keys',
  );
  for (const key of keyset.keys) {
    const entry = JSON.parse(layout.history[String(key.version)] as string) as Record<string, unknown>;
    expect(entry.kid).toBe(key.kid);
    expect(entry).not.toHaveProperty('d');
    expectSame(entry, historyMembers(key), `history holds the public part of version ${key.version}`);
  }
  // Versions only grow: the newest key ever stored is in the keyset (the active one, or the standby one).
  expect(Math.max(...Object.keys(layout.history).map(Number))).toBe(
    Math.max(...keyset.keys.map((key) => key.version)),
  );
  return keyset;
}
