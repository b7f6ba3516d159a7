/**
 * The jwt_secrets:* layout a KeysetManager writes through ValkeyStorage, against a real valkey-server: bootstrap
 * from jwt_secrets:active, a corrupted state, and every key of a rotation changing together. What every storage
 * must do is in storage/conformance.ts.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import {
  activeKey,
  type Keyset,
  promoteKey,
  rotateKeyset,
  signingJwk,
  stageKey,
} from '../../shared/keyset.ts';
import { openKeyset, sealKeyset } from '../../shared/keyset-envelope.ts';
import { keysetHash } from '../../shared/keyset-hash.ts';
import { computeKid } from '../../shared/kid.ts';
import { EDDSA_PAIR } from '../../test/support/key-pairs.ts';
import { useValkeyReplicas } from '../../test/support/keyset-replica.ts';
import { openingKeysFor, sealingKeys } from '../../test/support/keysets.ts';
import { expectConsistent, expectSame, secretOf } from '../../test/support/valkey-layout.ts';
import { auditValkey } from '../src/audit/audit-command.ts';
import { VALKEY_KEYS, type ValkeyStorage } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));

let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole file. */
const newSecret = (label = 's') => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;

describe('the Valkey layout a KeysetManager writes', () => {
  const valkey = useValkeyReplicas(KEYSET_KEY);
  const { replica } = valkey;

  it('a corrupted jwt_secrets:state stops the start without quoting it (it holds key material)', async () => {
    const fragment = 'kmaterial0123456789';
    // V8 quotes the text of a value that is not JSON at all (`Unexpected token ..., "..." is not valid JSON`).
    for (const broken of [`{"version":1,"keys":[{"k":"${fragment}`, `${fragment}${fragment}`]) {
      await valkey.admin.set(VALKEY_KEYS.state, broken);
      const { manager } = await replica();
      const failure = await manager.start().then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/jwt_secrets:state in Valkey is not valid JSON/);
      expect(failure?.message).not.toContain(fragment.slice(0, 6));
    }
  });

  it('bootstrapping from a pre-set jwt_secrets:active leaves it as it was, in a consistent layout', async () => {
    // The keyset it becomes (version 1, the secret's kid, the history entry) is checked by the conformance suite.
    const legacy = newSecret('legacy');
    await valkey.admin.set(VALKEY_KEYS.active, legacy);
    const { manager } = await replica();
    const stored = await manager.start();
    // Existing services that GET the key keep getting the same secret.
    expect(await valkey.admin.get(VALKEY_KEYS.active)).toBe(legacy);
    const { keyset: state } = await expectConsistent(valkey.admin, KEYSET_KEY);
    expect(state).toEqual(stored.keyset);
  });

  it('generates the first secret when Valkey is empty, and stores it as jwt_secrets:active', async () => {
    const { manager, warnings } = await replica();
    const stored = await manager.start();
    expect(stored.keyset.version).toBe(1);
    const active = await valkey.admin.get(VALKEY_KEYS.active);
    expect(utf8(active as string).length).toBeGreaterThanOrEqual(32);
    expect(activeKey(stored.keyset).kid).toBe(await computeKid(active as string));
    expect(warnings.join('\n')).toContain('generated the first secret');
  });

  it('a rotation changes active, keyset envelope, state, version and history together', async () => {
    const first = newSecret('first');
    await valkey.admin.set(VALKEY_KEYS.active, first);
    const { manager, storage } = await replica();
    await manager.start();
    const second = newSecret('second');
    const stored = await manager.rotate({ secret: second });
    expect(stored.keyset.version).toBe(2);

    const { layout: snap, keyset: state } = await expectConsistent(valkey.admin, KEYSET_KEY);
    expect(snap.active).toBe(second);
    expect(state).toEqual(stored.keyset);
    expect(stored.envelope).toBe(snap.envelope);
    expect(state.keys.map((k) => [k.kid, k.status, k.version])).toEqual([
      [await computeKid(second), 'active', 2],
      [await computeKid(first), 'previous', 1],
    ]);
    const history = await storage.history();
    expect(history.map((entry) => [entry.version, entry.k])).toEqual([
      [1, encodeBase64url(utf8(first))],
      [2, encodeBase64url(utf8(second))],
    ]);
  });

  it('readers never see a jwt_secrets:active or signing_key that disagrees with the envelope during rotations', async () => {
    const { manager } = await replica();
    await manager.start();
    const reads: Array<Array<string | null>> = [];
    let writing = true;
    const reader = (async () => {
      while (writing)
        reads.push(await valkey.admin.mget(VALKEY_KEYS.active, VALKEY_KEYS.keyset, VALKEY_KEYS.signingKey));
    })();
    for (let i = 0; i < 40; i++) await manager.rotate({ secret: newSecret('atomic') });
    writing = false;
    await reader;
    expect(reads.length).toBeGreaterThan(40);
    const distinct = new Map(reads.map((read) => [read.join('|'), read]));
    for (const [active, envelope, signingKey] of distinct.values()) {
      const keyset = await openKeyset(envelope as string, openingKeysFor(KEYSET_KEY));
      expect(secretOf(keyset)).toBe(active);
      expectSame(
        JSON.parse(signingKey as string),
        signingJwk(keyset),
        'signing_key is the active key of the envelope',
      );
    }
  });

  it('inspect() reads the kid of signing_key, and a signing_key that is not JSON as naming no key', async () => {
    const { manager, storage } = await replica();
    await manager.start();
    expect((await storage.inspect()).signingKid).toBe(activeKey((await manager.keyset()).keyset).kid);
    await valkey.admin.set(VALKEY_KEYS.signingKey, '{"kid": "kmaterial0123');
    expect((await storage.inspect()).signingKid).toBeNull();
  });

  /** Every jwt_secrets:* key whose value (string, hash or list) holds `text`. */
  async function keysHolding(text: string): Promise<string[]> {
    const found: string[] = [];
    for (const key of (await valkey.admin.keys('jwt_secrets:*')).sort()) {
      const type = await valkey.admin.type(key);
      const values =
        type === 'string'
          ? [await valkey.admin.get(key)]
          : type === 'hash'
            ? Object.values(await valkey.admin.hgetall(key))
            : type === 'list'
              ? await valkey.admin.lrange(key, 0, -1)
              : [];
      if (values.some((value) => value?.includes(text))) found.push(key);
    }
    return found;
  }

  it('a private key lives only in jwt_secrets:state and, while it signs, jwt_secrets:signing_key; the audit reads it', async () => {
    const { manager, storage } = await replica();
    const started = await manager.start();
    const sealing = await sealingKeys(KEYSET_KEY);
    // Stage and promote a key pair as a control plane writes them: chained, sealed, through the swap.
    const write = async (current: Keyset, next: Keyset, s: ValkeyStorage) => {
      const chained = { ...next, previous_hash: await keysetHash(current) };
      const stored = { keyset: chained, envelope: await sealKeyset(chained, sealing) };
      expect(await s.compareAndSwap(current.version, stored)).toBe(true);
      return chained;
    };
    const now = new Date();
    const staged = await write(started.keyset, stageKey(started.keyset, EDDSA_PAIR, now), storage);
    expect(await keysHolding(EDDSA_PAIR.d)).toEqual([VALKEY_KEYS.state]);
    const promoted = promoteKey(staged, EDDSA_PAIR.kid, { now, gracePeriodMs: 86_400_000 });
    await write(staged, promoted, storage);
    expect(await keysHolding(EDDSA_PAIR.d)).toEqual([VALKEY_KEYS.signingKey, VALKEY_KEYS.state]);
    await expectConsistent(valkey.admin, KEYSET_KEY);

    // The manager rotates back to HS256 from what storage holds: the key pair, now previous, keeps its d in
    // the state only; the legacy secret is the new one.
    const secret = newSecret('after-pair');
    await manager.rotate({ secret });
    expect(await keysHolding(EDDSA_PAIR.d)).toEqual([VALKEY_KEYS.state]);
    expect(await valkey.admin.get(VALKEY_KEYS.active)).toBe(secret);
    await expectConsistent(valkey.admin, KEYSET_KEY);

    const report = await auditValkey(valkey.valkey.url);
    expect(report).toMatchObject({ ok: true, keysetVersions: 4, keysetChain: null, auditLog: null });
  });

  it('a partial restore over key pairs reconciles when jwt_secrets:active is absent as the state says, and refuses naming signing_key when a stale secret is left', async () => {
    const { storage } = await replica();
    const pairs = rotateKeyset(null, EDDSA_PAIR, { now: new Date(), gracePeriodMs: 86_400_000 });
    const envelope = await sealKeyset(pairs, await sealingKeys(KEYSET_KEY));
    expect(await storage.compareAndSwap(0, { keyset: pairs, envelope })).toBe(true);
    expect(await valkey.admin.exists(VALKEY_KEYS.active)).toBe(0);

    await valkey.admin.set(VALKEY_KEYS.version, '5');
    const first = await replica();
    const started = await first.manager.start();
    expect(first.warnings.join('\n')).toContain(
      `${VALKEY_KEYS.version} is 5 but ${VALKEY_KEYS.state} holds version 1`,
    );
    expect(started.keyset.version).toBe(6);
    expect(activeKey(started.keyset).kid).toBe(EDDSA_PAIR.kid);
    await expectConsistent(valkey.admin, KEYSET_KEY);

    // An HS256 secret left in jwt_secrets:active that the state (key pairs only) does not give it.
    await valkey.admin.set(VALKEY_KEYS.active, newSecret('stale'));
    await valkey.admin.set(VALKEY_KEYS.version, '9');
    const second = await replica();
    const refused = await second.manager.start().then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).toContain(`${VALKEY_KEYS.active} does not agree with ${VALKEY_KEYS.state}`);
    expect(refused?.message).toContain(
      `restore ${VALKEY_KEYS.state}, ${VALKEY_KEYS.keyset}, ${VALKEY_KEYS.active}, ${VALKEY_KEYS.signingKey} and ${VALKEY_KEYS.version} together`,
    );
    expect(refused?.message).not.toContain('stale-');
    expect(await valkey.admin.get(VALKEY_KEYS.version)).toBe('9');
  });
});
