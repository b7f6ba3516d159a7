/**
 * Valkey SIGKILLed at random points under two rotating replicas and restarted from its append-only file, against
 * a real valkey-server: nothing acknowledged may be lost, nothing refused may leave a trace, and the replicas
 * converge by themselves.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Valkey } from 'iovalkey';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { activeKey } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { replicaFactory } from '../../test/support/keyset-replica.ts';
import { connectAdmin, expectConsistent, expectSame } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';
import { StorageUnavailableError } from '../src/errors.ts';
import { type HistoryEntry, VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
/** Kill rounds: 5 in `npm test`, more for a soak run (KEYWARD_FAULT_ROUNDS=200). */
const ROUNDS = Math.max(1, Number(process.env.KEYWARD_FAULT_ROUNDS ?? 5) || 5);
/** Drives the kill timing; set KEYWARD_FAULT_SEED to replay a failure. */
const SEED = Number(process.env.KEYWARD_FAULT_SEED ?? randomInt(2 ** 31));
const SUMMARY_FILE = join(import.meta.dirname, '.last-faults.json');

let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole file. */
const newSecret = (label: string) => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** mulberry32: a small seeded PRNG, so that a failing run's kill timing can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Attempt {
  replica: 'a' | 'b';
  secret: string;
  kid: string;
  /** The secret version the answer gave it (OK answers only). */
  version?: number;
}

describe('Valkey killed (SIGKILL) at random points during a stream of rotations from two replicas', () => {
  const cleanups: Array<() => Promise<void>> = [];
  const replica = replicaFactory(KEYSET_KEY, cleanups);
  let valkey: ValkeyServer | undefined;
  let admin: Valkey | undefined;

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    admin?.disconnect();
    await valkey?.stop();
  });

  it('then restarted from its append-only file: nothing acknowledged is lost, nothing refused is half-written', {
    timeout: 60_000 + ROUNDS * 15_000,
  }, async () => {
    console.log(
      `valkey-faults: seed ${SEED}, ${ROUNDS} kill rounds (replay with KEYWARD_FAULT_SEED=${SEED})`,
    );
    const random = seededRandom(SEED);
    const started = performance.now();
    valkey = await startValkey({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const server = valkey;
    // A short grace keeps the keyset (rewritten whole on every rotation) small: at the 50-150 rotations a second
    // two replicas make here, a second of grace held up to ~150 keys, near the 64 KiB envelope limit that makes
    // RotateSecret refuse. Expired keys are pruned by the replicas' timers meanwhile, writes of their own racing
    // the rotations.
    const replicas = {
      a: await replica(server.url, { gracePeriodMs: 250 }),
      b: await replica(server.url, { gracePeriodMs: 250 }),
    };
    await replicas.a.manager.start();
    await replicas.b.manager.start();
    // Keyset versions each replica wrote (rotations and prunes): two replicas must never both win one.
    const written: number[] = [];
    for (const { manager } of Object.values(replicas))
      manager.on('change', (stored) => written.push(stored.keyset.version));

    const ok: Attempt[] = [];
    const refused: Attempt[] = [];
    const unexpected: unknown[] = [];
    const sinceRestart = { a: 0, b: 0 };
    let rotating = true;
    const rotateLoop = async (name: 'a' | 'b') => {
      const { manager } = replicas[name];
      // Bounded twice: stops when told, and after 200 000 attempts whatever happens.
      for (let i = 0; rotating && i < 200_000; i++) {
        const secret = newSecret(name);
        const kid = await computeKid(secret);
        try {
          const stored = await manager.rotate({ secret });
          const version = stored.keyset.keys.find((key) => key.kid === kid)?.version;
          ok.push({ replica: name, secret, kid, version });
          sinceRestart[name]++;
        } catch (error) {
          if (!(error instanceof StorageUnavailableError)) {
            unexpected.push(error);
            return;
          }
          refused.push({ replica: name, secret, kid });
          // Valkey is down: retry soon, without spinning.
          await sleep(5 + Math.random() * 20);
        }
      }
    };
    const loops = [rotateLoop('a'), rotateLoop('b')];
    const bothRotating = () =>
      waitUntil('both replicas rotating', () => {
        if (unexpected.length > 0) throw unexpected[0];
        return sinceRestart.a >= 10 && sinceRestart.b >= 10;
      });

    let kills = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await bothRotating();
        await sleep(random() * 400);
        await server.kill('SIGKILL');
        kills++;
        await sleep(random() * 300);
        await server.restart();
        sinceRestart.a = 0;
        sinceRestart.b = 0;
      }
      // Both replicas reconnect by themselves and carry on after the last restart.
      await bothRotating();
    } finally {
      rotating = false;
      await Promise.all(loops);
    }
    expect(unexpected).toEqual([]);

    admin = await connectAdmin(server.url);
    const history = await admin.hgetall(VALKEY_KEYS.history);
    const entries: HistoryEntry[] = Object.entries(history)
      .map(([field, json]) => {
        const entry = JSON.parse(json) as HistoryEntry;
        expect(entry.version).toBe(Number(field));
        return entry;
      })
      .sort((x, y) => x.version - y.version);
    const byKid = new Map(entries.map((entry) => [entry.kid, entry]));
    const lost = ok.filter((attempt) => {
      const entry = byKid.get(attempt.kid);
      if (!entry || entry.k !== encodeBase64url(utf8(attempt.secret))) return true;
      return attempt.version !== undefined && attempt.version !== entry.version;
    });
    // A rotation whose reply died with the connection may have landed, whole; that is all a refusal may leave.
    const landed = refused.filter((attempt) => byKid.has(attempt.kid));
    const summary = {
      seed: SEED,
      rounds: ROUNDS,
      kills,
      rotationsOk: ok.length,
      rotationsRefused: refused.length,
      refusedButLanded: landed.length,
      lost: lost.length,
      secretVersions: entries.length,
      keysetVersion: Number(await admin.get(VALKEY_KEYS.version)),
      durationMs: Math.round(performance.now() - started),
    };
    await writeFile(SUMMARY_FILE, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`valkey-faults: ${JSON.stringify(summary)}`);

    expect(kills).toBe(ROUNDS);
    expect(lost.map(({ replica, kid, version }) => ({ replica, kid, version }))).toEqual([]);
    // History: secret versions 1..N, no gap, no duplicate, each a distinct secret, in installation order.
    expect(entries.map((entry) => entry.version)).toEqual(entries.map((_, i) => i + 1));
    expect(new Set(entries.map((entry) => entry.kid)).size).toBe(entries.length);
    expect(new Set(entries.map((entry) => entry.k)).size).toBe(entries.length);
    for (let i = 1; i < entries.length; i++) {
      expect(Date.parse(entries[i]?.created_at as string)).toBeGreaterThanOrEqual(
        Date.parse(entries[i - 1]?.created_at as string),
      );
    }
    // Every secret in history is accounted for: the first one, an OK answer, or a refusal that landed whole.
    for (const attempt of landed) {
      expectSame(
        byKid.get(attempt.kid)?.k,
        encodeBase64url(utf8(attempt.secret)),
        `landed ${attempt.kid} whole`,
      );
    }
    expect(entries.length).toBe(1 + ok.length + landed.length);
    // Copied before the state is read: prune timers may still write meanwhile.
    const writtenBefore = [...written];
    expect(new Set(writtenBefore).size).toBe(writtenBefore.length);

    const { keyset: state } = await expectConsistent(admin, KEYSET_KEY);
    expect(activeKey(state).version).toBe(entries.length);
    expect(Math.max(...writtenBefore)).toBeLessThanOrEqual(state.version);

    // Both replicas converge on what is stored (their prune timers may still move it on meanwhile).
    await waitUntil('replicas converge', async () => {
      const stored = Number(await admin?.get(VALKEY_KEYS.version));
      const [a, b] = await Promise.all([replicas.a.manager.keyset(), replicas.b.manager.keyset()]);
      return a.keyset.version === stored && b.keyset.version === stored;
    });
  });
});
