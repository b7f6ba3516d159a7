/**
 * Property-based fuzzing of PUT /keyset with valid envelopes replayed and pushed out of order, one after another
 * and concurrently: the held version is always the highest pushed, never lower, and a replay changes nothing.
 * Against a real edge through edge.fetch (test/support/envelope-fuzz-harness.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { sealKeyset } from '../../shared/keyset-envelope.ts';
import { postVerify } from '../support/edge-requests.ts';
import { envelopeFuzz, N, NOW, runs } from '../support/envelope-fuzz-harness.ts';
import { fuzzEdge } from '../support/jose-by-hand.ts';
import { buildKeyset, EDGE_KEYS, sealingKeys, secret } from '../support/keysets.ts';

const fz = envelopeFuzz('replay');
const { keysets, envelopes, kids, token, put, expectHeldUnchanged } = fz;

describe('PUT /keyset: replays and reordering', () => {
  it('answers a replay of the held keyset 200 (ring untouched), another keyset of the held version and an older version 409 with the held one', async () => {
    for (let i = 0; i < runs(50); i++) {
      expect(await put(fz.held, envelopes[2] as string)).toMatchObject({ status: 200, body: { version: 2 } });
      // Another sealing of the same keyset (fresh IV) is the held one; a different keyset claiming version 2 (a
      // control plane restored from a backup) is a conflict (SPEC section 9): the held one stays either way.
      const again = await sealKeyset(keysets[2] as Keyset, await sealingKeys());
      expect(await put(fz.held, again)).toMatchObject({ status: 200, body: { version: 2 } });
      const fork = await buildKeyset(2, secret(`fork-${i}`));
      expect(await put(fz.held, await sealKeyset(fork, await sealingKeys()))).toEqual({
        status: 409,
        body: { error: 'keyset_conflict', version: 2 },
      });
      expect(await put(fz.held, envelopes[1] as string)).toEqual({
        status: 409,
        body: { error: 'keyset_conflict', version: 2 },
      });
      await expectHeldUnchanged();
    }
  });

  it('pushed v1..vN in any order, with repeats: the held version is always the max so far, never lower', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: N }), { minLength: 1, maxLength: 24 }),
        async (order) => {
          const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
          let max = 0;
          let ring: KeyRing | undefined;
          for (const v of order) {
            const answer = await put(fe, envelopes[v] as string);
            if (v < max) {
              expect(answer).toEqual({ status: 409, body: { error: 'keyset_conflict', version: max } });
            } else {
              expect(answer).toMatchObject({ status: 200, body: { version: v } });
            }
            if (v > max) {
              max = v;
              ring = fe.edge.store.ring;
            }
            expect(fe.edge.store.ring).toBe(ring);
            expect(fe.edge.store.version).toBe(max);
            expect([...(ring as KeyRing).byKid.keys()].sort()).toEqual(
              (keysets[max] as Keyset).keys.map((key) => key.kid).sort(),
            );
          }
          // What verifies is exactly the max keyset: its active key with kid, and nothing newer.
          const current = await postVerify(fe.edge, token(max, true));
          expect(await current.json()).toMatchObject({ valid: true, kid: kids[max] });
          if (max < N) {
            const newer = await postVerify(fe.edge, token(max + 1, true));
            expect(newer.status).toBe(401);
            await newer.body?.cancel();
          }
        },
      ),
      { numRuns: runs(250) },
    );
  });

  it('pushed concurrently in random order: the held version never goes back and ends at the max', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: N }), { minLength: 1, maxLength: 16 }),
        async (batch) => {
          const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
          const seen: number[] = [];
          let done = false;
          const watch = (async () => {
            // Bounded: the batch settles in a handful of macrotasks; 10,000 is far beyond.
            for (let i = 0; i < 10_000 && !done; i++) {
              seen.push(fe.edge.store.version);
              await new Promise((resolve) => setImmediate(resolve));
            }
          })();
          const answers = await Promise.all(batch.map((v) => put(fe, envelopes[v] as string)));
          done = true;
          await watch;
          seen.push(fe.edge.store.version);
          const max = Math.max(...batch);
          expect(fe.edge.store.version).toBe(max);
          for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] as number);
          for (const [i, answer] of answers.entries()) {
            const v = batch[i] as number;
            if (answer.status === 200) expect(answer.body).toMatchObject({ version: v });
            else {
              expect(answer.status).toBe(409);
              expect(answer.body.version as number).toBeGreaterThan(v);
            }
          }
          expect(answers[batch.indexOf(max)]?.status).toBe(200);
        },
      ),
      { numRuns: runs(200) },
    );
  });
});
