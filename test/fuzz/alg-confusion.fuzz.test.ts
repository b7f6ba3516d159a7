/**
 * Property-based fuzzing of algorithm pinning (RFC 8725 section 3.1, SPEC section 8) with an oracle: random
 * keysets mixing HS256, ES256 and EdDSA keys in every status (previous keys around the end of their grace),
 * random JWT_ALGORITHMS, and random tokens (every header alg, kids of other keys, signatures by held and
 * unheld keys, in DER, high-S, cut, non-canonical, or HMAC'd with a public key's bytes). verifyToken must answer
 * exactly what the independent reference verifier answers, with both primitives (node:crypto and WebCrypto), and
 * a token must verify only when the key its answer names signed it with that key's own algorithm.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { confusionRings, verdict } from '../support/confusion-rings.ts';
import {
  ALGS,
  type KeysetSpec,
  keysetOf,
  keysetSpec,
  NOW,
  POOL,
  SIGNERS,
  tokenOf,
  tokenSpec,
} from '../support/confusion-tokens.ts';

const HOUR = 3_600_000;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

const outcomes = new Map<string, number>();

beforeAll(() => {
  // The pool's kids are the thumbprints shared/ computes too (checked by the reference's own thumbprint code).
  expect(new Set(SIGNERS.map((key) => key.kid)).size).toBe(SIGNERS.length);
});

describe('algorithm pinning under fuzzing: random mixed keysets, random tokens, against the reference', () => {
  it('answers exactly as the reference verifier with both primitives; only genuine signatures verify', async () => {
    await fc.assert(
      fc.asyncProperty(
        keysetSpec,
        fc.array(tokenSpec, { minLength: 10, maxLength: 10 }),
        async (ks, tokens) => {
          const keyset = keysetOf(ks);
          const setup = await confusionRings(keyset, ks.configured);
          for (const spec of tokens) {
            const { token, genuine, signer } = tokenOf(spec);
            const answer = await verdict(token, setup, { now: spec.now, algorithms: ks.configured });
            const outcome = answer.valid ? 'valid' : answer.error;
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
            if (answer.valid) {
              // The attacker's invariant: whatever the header says, only the signer's own key, used with its own
              // algorithm, makes a token verify, and the answer names that key.
              expect(genuine, token).toBe(true);
              expect(answer.kid).toBe(signer.kid);
              const held = keyset.keys.find((key) => key.kid === answer.kid);
              expect(held?.alg).toBe(answer.header.alg);
              expect(ks.configured).toContain(answer.header.alg);
            }
          }
        },
      ),
      { numRuns: runs(1000) },
    );
    // The generator reaches every answer of the pinning rules.
    for (const outcome of [
      'valid',
      'algorithm_not_allowed',
      'signature_invalid',
      'key_unknown',
      'token_malformed',
      'token_expired',
    ]) {
      expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(runs(1000) / 40);
    }
  });

  it('a keyset holding every pool key verifies each key only with its own algorithm, whatever the kid says', async () => {
    const all: KeysetSpec = {
      members: POOL.map((_, i) => i),
      standby: true,
      expiries: [HOUR, HOUR, HOUR, HOUR, HOUR, HOUR, HOUR, HOUR, HOUR],
      configured: [...ALGS],
    };
    const keyset = keysetOf(all);
    const setup = await confusionRings(keyset);
    await fc.assert(
      fc.asyncProperty(tokenSpec, async (spec) => {
        const { token, genuine, signer } = tokenOf({ ...spec, now: NOW });
        const answer = await verdict(token, setup, { now: NOW });
        if (answer.valid) {
          expect(genuine).toBe(true);
          expect(answer.kid).toBe(signer.kid);
        }
      }),
      { numRuns: runs(8000) },
    );
  });
});
