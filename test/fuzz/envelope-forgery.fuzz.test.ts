/**
 * Property-based fuzzing of PUT /keyset with forged envelopes: random bytes, other keys, replaced protected
 * headers, byte flips, character changes, truncations and segment shuffles of a real envelope. Against a real
 * edge through edge.fetch; after every case the held keyset never changes (test/support/envelope-fuzz-harness.ts).
 */
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Keyset } from '../../shared/keyset.ts';
import { sealKeyset } from '../../shared/keyset-envelope.ts';
import { envelopeFuzz, manifest, N, NOW, runs, SPEC_HEADER } from '../support/envelope-fuzz-harness.ts';
import { b64json, b64url, fuzzEdge, sealRaw } from '../support/jose-by-hand.ts';
import { EDGE_KEYS, KEYSET_KEY_BYTES, sealingKeys } from '../support/keysets.ts';

const fz = envelopeFuzz('forgery');
const { keysets, envelopes, put, resetHeld, expectHeldUnchanged, refused, mutationOfV3 } = fz;

describe('PUT /keyset under fuzzing: the held keyset never changes', () => {
  it('holds version 2 and answers the reference tokens (sanity of the harness)', async () => {
    await expectHeldUnchanged();
    // The hand-made sealer is accepted by the edge, so a refusal below is about the mutation, not the sealer.
    const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
    const answer = await put(
      fe,
      sealRaw(KEYSET_KEY_BYTES, SPEC_HEADER, manifest(JSON.stringify(keysets[3]))),
    );
    expect(answer).toMatchObject({ status: 200, body: { version: 3 } });
  });

  it('refuses random bytes and random strings with 400/401/413', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 2048 }),
          fc.string({ maxLength: 2048 }),
          fc.string({ unit: 'binary', maxLength: 1024 }),
          fc.stringMatching(/^[A-Za-z0-9_\-.=]{0,1500}$/),
        ),
        (body) => refused(body, [400, 401, 413]),
      ),
      { numRuns: runs(1000) },
    );
  });

  it('refuses a well-formed JWE sealed under any other key with 401 envelope_undecryptable', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: N }),
        fc.boolean(),
        async (key, v, withJose) => {
          fc.pre(!Buffer.from(key).equals(KEYSET_KEY_BYTES));
          const keyset = keysets[v] as Keyset;
          const envelope = withJose
            ? await sealKeyset(keyset, await sealingKeys(key))
            : sealRaw(key, SPEC_HEADER, manifest(JSON.stringify(keyset)));
          await refused(envelope, [401], 'envelope_undecryptable');
        },
      ),
      { numRuns: runs(400) },
    );
  });

  /** A parameter that is absent (JSON.stringify drops undefined) `absent` times in `absent + 1`. */
  const sometimes = <T>(values: fc.Arbitrary<T>, absent = 2) =>
    fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: values });
  const headerArb = fc.record({
    alg: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string | undefined>('dir') },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'A256KW',
          'A256GCMKW',
          'RSA-OAEP',
          'PBES2-HS256+A128KW',
          'none',
          'DIR',
          '',
          undefined,
        ),
      },
    ),
    enc: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string | undefined>('A256GCM') },
      {
        weight: 2,
        arbitrary: fc.constantFrom('A128GCM', 'A192GCM', 'A256CBC-HS512', 'a256gcm', '', undefined),
      },
    ),
    zip: sometimes(fc.constantFrom('DEF', 'GZIP', 'def', '')),
    kid: sometimes(fc.oneof(fc.string({ maxLength: 40 }), fc.constant('x'.repeat(4096)))),
    cty: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string | undefined>('keyward-keyset+jws') },
      { weight: 2, arbitrary: fc.constantFrom('keyward-keyset+json', 'JWT', '', undefined) },
    ),
    crit: sometimes(fc.constantFrom(['exp'], ['kid'], ['cty'], [], ['zip'], 'kid')),
    p2c: sometimes(fc.integer({ min: 0, max: 10_000_000 }), 4),
    epk: sometimes(fc.constant({ kty: 'oct', k: 'AAAA' }), 4),
  });

  it('refuses a real envelope whose protected header was replaced (alg/enc/zip/kid/crit...): AAD mismatch', async () => {
    const [, encryptedKey, iv, ciphertext, tag] = (envelopes[3] as string).split('.');
    await fc.assert(
      fc.asyncProperty(headerArb, async (header) => {
        const mutated = `${b64json(header)}.${encryptedKey}.${iv}.${ciphertext}.${tag}`;
        const wrongParameters = header.alg !== 'dir' || header.enc !== 'A256GCM';
        await mutationOfV3(mutated, wrongParameters ? [400] : [400, 401]);
      }),
      { numRuns: runs(600) },
    );
  });

  it('under the right key, takes a newer keyset only with alg dir, enc A256GCM, cty keyward-keyset+jws, no crit and no zip', async () => {
    const plaintext = manifest(JSON.stringify(keysets[3]));
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(headerArb, async (header) => {
        const deflated = header.zip === 'DEF';
        const envelope = sealRaw(KEYSET_KEY_BYTES, header, deflated ? deflateRawSync(plaintext) : plaintext);
        // The oracle, from SPEC sections 5 and 9: extra parameters (kid, even p2c/epk, meaningless for dir) are
        // ignored; crit of any kind is refused, and so is zip (Keyward never compresses, and inflating would
        // get past MAX_ENVELOPE_BYTES); without cty keyward-keyset+jws the plaintext is not a signed manifest
        // (401, like any keyset the edge cannot tell the control plane signed).
        const shaped = header.alg === 'dir' && header.enc === 'A256GCM' && header.zip === undefined;
        const takes = shaped && header.cty === 'keyward-keyset+jws' && header.crit === undefined;
        const answer = await put(fz.held, envelope);
        if (takes) {
          expect(answer).toMatchObject({ status: 200, body: { version: 3 } });
          expect(fz.held.edge.store.version).toBe(3);
          taken++;
          await resetHeld();
        } else {
          const status = shaped && header.cty !== 'keyward-keyset+jws' ? 401 : 400;
          expect(answer.status, JSON.stringify({ header, answer })).toBe(status);
          await expectHeldUnchanged();
        }
      }),
      { numRuns: runs(600) },
    );
    expect(taken).toBeGreaterThan(0);
  });

  it('refuses every byte flip of a real envelope (header, iv, ciphertext, tag) and bytes in the encrypted key', async () => {
    const parts = (envelopes[3] as string).split('.');
    let flips = 0;
    for (const index of [0, 2, 3, 4]) {
      const bytes = Buffer.from(parts[index] as string, 'base64url');
      for (let i = 0; i < bytes.length; i++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const copy = Buffer.from(bytes);
          copy[i] = (copy[i] as number) ^ mask;
          const mutated = parts.map((part, j) => (j === index ? b64url(copy) : part)).join('.');
          // A changed header changes the AAD: malformed (400) or undecryptable (401). Anything else is 401.
          await refused(
            mutated,
            index === 0 ? [400, 401] : [401],
            index === 0 ? undefined : 'envelope_undecryptable',
          );
          flips++;
        }
      }
    }
    for (const extra of ['AA', 'AAAA', b64url(KEYSET_KEY_BYTES), '!!']) {
      await refused([parts[0], extra, ...parts.slice(2)].join('.'), [400]);
    }
    expect(flips).toBeGreaterThan(1500);
  });

  it('refuses character changes at ~300 sampled positions of a real envelope, unless they spell the same bytes', async () => {
    const envelope = envelopes[3] as string;
    const alphabet = ['A', 'g', '_', '-', '.', '=', ' ', '+', '/', '\u00e9'];
    const positions = fc.sample(fc.nat({ max: envelope.length - 1 }), { numRuns: runs(300), seed: 6 });
    for (const i of new Set(positions)) {
      for (const c of alphabet) {
        if (envelope[i] === c) continue;
        await mutationOfV3(envelope.slice(0, i) + c + envelope.slice(i + 1), [400, 401]);
      }
      await mutationOfV3(envelope.slice(0, i) + envelope.slice(i + 1), [400, 401]);
      await mutationOfV3(envelope.slice(0, i) + (envelope[i] as string) + envelope.slice(i), [400, 401]);
    }
  });

  it('refuses every truncation of a real envelope, from either end', async () => {
    const envelope = envelopes[3] as string;
    for (let n = 0; n < envelope.length; n++) {
      await mutationOfV3(envelope.slice(0, n), [400, 401]);
      await mutationOfV3(envelope.slice(envelope.length - n), [400, 401]);
    }
  });

  it('refuses extra, missing, duplicated, swapped and empty segments', async () => {
    const parts = (envelopes[3] as string).split('.');
    const segment = fc.oneof(
      fc.constantFrom(...parts),
      fc.constant(''),
      fc.base64String({ maxLength: 64 }).map((s) => s.replace(/=+$/, '')),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 0, maxLength: 9 }), async (segments) => {
        const mutated = segments.join('.');
        // Three segments are read as a bare manifest: a JWE header there is not the manifest's (401).
        if (segments.length === 3) await refused(mutated, [400, 401]);
        else if (segments.length !== 5) await refused(mutated, [400], 'envelope_malformed');
        else await mutationOfV3(mutated, [400, 401]);
      }),
      { numRuns: runs(800) },
    );
  });
});
