/**
 * Property-based fuzzing of PUT /keyset (envelopes forged, replayed, reordered, truncated,
 * oversized: the held keyset never changes), against a real edge (createEdge, Node HMAC primitive) driven
 * through edge.fetch with real Request objects. After every case: no 5xx, no throw, nothing logged as an
 * unexpected error, and the held keyset (the very ring object, its version, its kids, and what reference tokens
 * verify to) is unchanged unless a strictly newer, validly sealed keyset was pushed.
 */
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { CompactEncrypt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { MAX_ENVELOPE_BYTES, sealKeyset } from '../../shared/keyset-envelope.ts';
import { parseSigningSeed } from '../../shared/keyset-signing-key.ts';
import { computeKid } from '../../shared/kid.ts';
import { postVerify } from '../support/edge-requests.ts';
import {
  b64json,
  b64url,
  type FuzzEdge,
  fuzzEdge,
  sealRaw,
  signHs,
  signManifestByHand,
} from '../support/jose-by-hand.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  KEYSET_KEY_BYTES,
  KEYSET_SIGNING_KEY,
  sealingKeys,
  secret,
} from '../support/keysets.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
/** Scales every property's run count; the defaults keep the file well under 30 s on a slow 2-core machine. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** The JWE header of SPEC section 9. */
const SPEC_HEADER = { alg: 'dir', enc: 'A256GCM', cty: 'keyward-keyset+jws' };
const SEED = parseSigningSeed(KEYSET_SIGNING_KEY);
/** A manifest signed by the control plane's key (made by hand with node:crypto), for any payload. */
const manifest = (payload: Uint8Array | string) => signManifestByHand(payload, SEED);
/** Stands for a number too large for a double (JSON has no Infinity); replaced by 1e400 in the plaintext. */
const INFINITY = '__becomes_1e400__';

/** Secrets of versions 1..N, one new active secret per version. */
const N = 8;
const SECRETS = Array.from({ length: N + 1 }, (_, v) => secret(`envelope-fuzz-v${v}`));
/** keysets[v]: version v, active SECRETS[v], previous SECRETS[v - 1] (as a rotation leaves them). */
const keysets: Keyset[] = [];
const envelopes: string[] = [];
const kids: string[] = [];

/** The edge under test holding version 2, and what it must go on answering. */
interface Held extends FuzzEdge {
  ring: KeyRing;
}
let held: Held;
let refActive: string;
let refPrevious: string;
let newerOnly: string;
let cases = 0;
let acceptedSameBytes = 0;

const exp = NOW / 1000 + 3600;
const token = (v: number, withKid: boolean) =>
  signHs(SECRETS[v] as string, withKid ? { alg: 'HS256', kid: kids[v] } : { alg: 'HS256' }, {
    sub: `ref-${v}`,
    exp,
  });

async function holdVersion2(): Promise<Held> {
  const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
  const { status } = await put(fe, envelopes[2] as string);
  expect(status).toBe(200);
  return { ...fe, ring: fe.edge.store.ring as KeyRing };
}

beforeAll(async () => {
  for (let v = 1; v <= N; v++) {
    kids[v] = await computeKid(SECRETS[v] as string);
    keysets[v] = await buildKeyset(
      v,
      SECRETS[v] as string,
      v > 1 ? [{ secret: SECRETS[v - 1] as string }] : [],
    );
    // The production sealer, so the mutations below start from exactly what the control plane sends.
    envelopes[v] = await sealKeyset(keysets[v] as Keyset, await sealingKeys());
  }
  refActive = token(2, true);
  refPrevious = token(1, false);
  newerOnly = token(3, false);
  held = await holdVersion2();
});

afterAll(() => {
  // A record for the report: run with --reporter=verbose to see it.
  console.info(
    `envelope fuzz: ${cases} PUT /keyset cases; ${acceptedSameBytes} re-encodings of the same bytes`,
  );
});

/** One PUT /keyset through edge.fetch: never a throw, never a 5xx, always a JSON body. */
async function put(
  fe: FuzzEdge,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  cases++;
  const request = new Request('http://edge.test/keyset', {
    method: 'PUT',
    body,
    headers,
    duplex: 'half',
  } as RequestInit);
  const response = await fe.edge.fetch(request);
  const text = await response.text();
  expect(response.status, text).toBeLessThan(500);
  expect(fe.logs.filter((line) => line.includes('unexpected error'))).toEqual([]);
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
}

/** The invariant: the held keyset is the very same, whole, and answers the reference tokens as before. */
async function expectHeldUnchanged(): Promise<void> {
  const ring = held.edge.store.ring;
  if (ring !== held.ring) {
    const seen = ring?.version;
    held = await holdVersion2();
    throw new Error(`the held keyset changed (now version ${seen})`);
  }
  expect(ring.version).toBe(2);
  expect([...ring.byKid.keys()].sort()).toEqual([kids[2], kids[1]].sort());
  const answers = await Promise.all([refActive, refPrevious, newerOnly].map((t) => postVerify(held.edge, t)));
  const bodies = (await Promise.all(answers.map((a) => a.json()))) as Array<Record<string, unknown>>;
  expect(answers.map((a) => a.status)).toEqual([200, 200, 401]);
  expect(bodies.map((b) => b.kid ?? b.error)).toEqual([kids[2], kids[1], 'signature_invalid']);
}

/** PUT against the held edge, then the invariant; `allowed` lists the statuses this kind of input may get. */
async function refused(body: BodyInit, allowed: number[], error?: string): Promise<void> {
  const answer = await put(held, body);
  expect(allowed, JSON.stringify(answer)).toContain(answer.status);
  if (error !== undefined) expect(answer.body.error).toBe(error);
  await expectHeldUnchanged();
}

/**
 * For a mutation of the v3 envelope that the edge took anyway: legitimate only if the mutation is another
 * spelling of the same sealed bytes (jose's base64url decoder, like atob, ignores non-canonical trailing bits
 * and ASCII whitespace), with the protected header segment, the AAD, untouched. Then the edge is reset.
 */
async function expectSameSealedBytes(mutated: string, original: string): Promise<void> {
  const a = mutated.trim().split('.');
  const b = original.split('.');
  expect(a.length).toBe(5);
  expect(a[0]).toBe(b[0]);
  for (const i of [1, 2, 3, 4]) {
    expect(Buffer.from(a[i] as string, 'base64url').equals(Buffer.from(b[i] as string, 'base64url'))).toBe(
      true,
    );
  }
  acceptedSameBytes++;
  held = await holdVersion2();
}

/** A v3 mutation: refused, or taken only when it is the same sealed bytes. */
async function mutationOfV3(mutated: string, allowed: number[]): Promise<void> {
  const answer = await put(held, mutated);
  if (answer.status === 200 && held.edge.store.version === 3) {
    await expectSameSealedBytes(mutated, envelopes[3] as string);
    return;
  }
  expect(allowed, `${JSON.stringify(answer)} for ${mutated}`).toContain(answer.status);
  await expectHeldUnchanged();
}

describe('PUT /keyset under fuzzing: the held keyset never changes', () => {
  it('holds version 2 and answers the reference tokens (sanity of the harness)', async () => {
    await expectHeldUnchanged();
    // The hand-made sealer is accepted by the edge, so a refusal below is about the mutation, not the sealer.
    const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
    const answer = await put(
      fe,
      sealRaw(KEYSET_KEY_BYTES, SPEC_HEADER, manifest(JSON.stringify(keysets[3]))),
    );
    expect(answer).toEqual({ status: 200, body: { version: 3 } });
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
        const answer = await put(held, envelope);
        if (takes) {
          expect(answer).toEqual({ status: 200, body: { version: 3 } });
          expect(held.edge.store.version).toBe(3);
          taken++;
          held = await holdVersion2();
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

  it('answers 413 to every body over MAX_ENVELOPE_BYTES (UTF-8 bytes, declared or streamed), a valid envelope too', async () => {
    const replay = envelopes[2] as string;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('A', ' ', '\u00e9', '\u20ac', '\u{1d11e}', '\u00a0', '\u3000'),
        fc.integer({ min: -64, max: 64 }),
        fc.constantFrom('plain', 'declared', 'stream', 'padded-envelope'),
        async (drawn, delta, how) => {
          // Behind a valid envelope only whitespace (String.prototype.trim's, Unicode's included) keeps it one.
          const char = how === 'padded-envelope' && drawn.trim() !== '' ? ' ' : drawn;
          const width = Buffer.byteLength(char);
          const base = how === 'padded-envelope' ? replay : '';
          const body = base + char.repeat(Math.ceil((MAX_ENVELOPE_BYTES - base.length + delta) / width));
          const bytes = Buffer.byteLength(body);
          let answer: { status: number; body: Record<string, unknown> };
          if (how === 'stream') {
            const chunks = Buffer.from(body);
            const stream = new ReadableStream<Uint8Array>({
              start(controller) {
                for (let at = 0; at < chunks.length; at += 4096)
                  controller.enqueue(chunks.subarray(at, at + 4096));
                controller.close();
              },
            });
            answer = await put(held, stream);
          } else if (how === 'declared') {
            answer = await put(held, body, { 'content-length': String(bytes) });
          } else {
            answer = await put(held, body);
          }
          if (bytes > MAX_ENVELOPE_BYTES)
            expect(answer).toEqual({ status: 413, body: { error: 'envelope_too_large' } });
          // The v2 envelope padded with whitespace is still the held version: 200, nothing changes.
          else if (how === 'padded-envelope') expect(answer).toEqual({ status: 200, body: { version: 2 } });
          else expect(answer.status).toBe(400);
          await expectHeldUnchanged();
        },
      ),
      { numRuns: runs(120) },
    );
    // Far over the limit, and a declared length that lies about a small body.
    await refused('x'.repeat(4 * MAX_ENVELOPE_BYTES), [413], 'envelope_too_large');
    const lying = await put(held, 'tiny', { 'content-length': String(MAX_ENVELOPE_BYTES + 1) });
    expect(lying.status).toBe(413);
    await expectHeldUnchanged();
  });

  /** Corruptions of a valid, newer (v3) keyset; each must be answered 400 keyset_invalid. */
  const notRfc3339 = fc.constantFrom(
    '',
    'not a date',
    '2026-13-45T00:00:00Z',
    'tomorrow',
    1767225600,
    null,
    true,
    {},
  );
  const index = fc.integer({ min: 0, max: 1 });
  const corruption: fc.Arbitrary<Corruption> = fc.oneof(
    fc.constant(corrupt('two actives', (k) => setKey(k, 1, 'status', 'active'))),
    fc.constant(corrupt('no active', (k) => setKey(k, 0, 'status', 'previous'))),
    fc
      .oneof(
        fc.integer({ max: 0 }),
        fc.double({ noInteger: true }).filter(Number.isFinite),
        fc.constantFrom(2 ** 53, 2 ** 64, 1e300, '3', null, true, [3], { v: 3 }, undefined, INFINITY),
      )
      .map((v) => corrupt(`version ${String(v)}`, (k) => setField(k, 'version', v))),
    notRfc3339.map((d) => corrupt(`issued_at ${String(d)}`, (k) => setField(k, 'issued_at', d))),
    fc
      .tuple(notRfc3339, index)
      .map(([d, i]) => corrupt(`created_at[${i}] ${String(d)}`, (k) => setKey(k, i, 'created_at', d))),
    notRfc3339
      .filter((d) => d !== null)
      .map((d) => corrupt(`expires_at ${String(d)}`, (k) => setKey(k, 1, 'expires_at', d))),
    fc
      .tuple(fc.constantFrom('HS512', 'HS384', 'none', 'RS256', '', 'hs256', null, 256, undefined), index)
      .map(([a, i]) => corrupt(`alg[${i}] ${String(a)}`, (k) => setKey(k, i, 'alg', a))),
    fc
      .tuple(fc.constantFrom('', 'AAAA=', 'A', 'not base64url!', 'AA+/', 123, null, undefined), index)
      .map(([v, i]) => corrupt(`k[${i}] ${String(v)}`, (k) => setKey(k, i, 'k', v))),
    fc.constant(
      corrupt('duplicate kids', (k) => setKey(k, 1, 'kid', (keysOf(k)[0] as Record<string, unknown>).kid)),
    ),
    fc
      .tuple(fc.constantFrom('', 'x'.repeat(257), 42, null, undefined), index)
      .map(([v, i]) => corrupt(`kid[${i}] ${String(v)}`, (k) => setKey(k, i, 'kid', v))),
    fc
      .tuple(fc.constantFrom('revoked', 'ACTIVE', '', null, 1, undefined), index)
      .map(([v, i]) => corrupt(`status[${i}] ${String(v)}`, (k) => setKey(k, i, 'status', v))),
    fc
      .tuple(fc.constantFrom(-1, 1.5, '2', null), index)
      .map(([v, i]) => corrupt(`key version[${i}] ${String(v)}`, (k) => setKey(k, i, 'version', v))),
    fc
      .constantFrom([], {}, 'keys', null, [null], [1], ['x'], [[]], undefined)
      .map((v) => corrupt(`keys ${JSON.stringify(v)}`, (k) => setField(k, 'keys', v))),
  );

  it('refuses plaintexts that decrypt but are not a valid keyset with 400 keyset_invalid', async () => {
    await fc.assert(
      fc.asyncProperty(corruption, fc.boolean(), async ({ apply }, useJose) => {
        const keyset = structuredClone(keysets[3]) as unknown as Record<string, unknown>;
        apply(keyset);
        // JSON has no Infinity; 1e400 is how a number too large for a double reaches JSON.parse.
        const plaintext = JSON.stringify(keyset).replace(`"${INFINITY}"`, '1e400');
        const envelope = useJose
          ? await sealWith(manifest(plaintext))
          : sealRaw(KEYSET_KEY_BYTES, SPEC_HEADER, manifest(plaintext));
        await refused(envelope, [400], 'keyset_invalid');
      }),
      { numRuns: runs(1000) },
    );
  });

  it('refuses plaintexts that are not a keyset at all: any JSON value, non-JSON, invalid UTF-8, BOM', async () => {
    const plaintext = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(
        '',
        `\ufeff${JSON.stringify({ version: 3, issued_at: '2026-01-01T00:00:00Z', keys: [] })}`,
        // Deep nesting, small enough that the signed, encrypted manifest stays under MAX_ENVELOPE_BYTES.
        `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
        `{"version":3,"issued_at":"2026-01-01T00:00:00Z","keys":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      ),
      fc.constant(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    );
    await fc.assert(
      fc.asyncProperty(plaintext, (p) =>
        refused(sealRaw(KEYSET_KEY_BYTES, SPEC_HEADER, manifest(p)), [400], 'keyset_invalid'),
      ),
      { numRuns: runs(800) },
    );
  });
});

describe('PUT /keyset: replays and reordering', () => {
  it('answers a replay of the held keyset 200 (ring untouched), another keyset of the held version and an older version 409 with the held one', async () => {
    for (let i = 0; i < runs(50); i++) {
      expect(await put(held, envelopes[2] as string)).toEqual({ status: 200, body: { version: 2 } });
      // Another sealing of the same keyset (fresh IV) is the held one; a different keyset claiming version 2 (a
      // control plane restored from a backup) is a conflict (SPEC section 9): the held one stays either way.
      const again = await sealKeyset(keysets[2] as Keyset, await sealingKeys());
      expect(await put(held, again)).toEqual({ status: 200, body: { version: 2 } });
      const fork = await buildKeyset(2, secret(`fork-${i}`));
      expect(await put(held, await sealKeyset(fork, await sealingKeys()))).toEqual({
        status: 409,
        body: { error: 'keyset_conflict', version: 2 },
      });
      expect(await put(held, envelopes[1] as string)).toEqual({
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
              expect(answer).toEqual({ status: 200, body: { version: v } });
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
            if (answer.status === 200) expect(answer.body).toEqual({ version: v });
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

describe('what the keyset schema refuses even from whoever holds KEYSET_KEY', () => {
  it("refuses a validly sealed keyset whose kid is not its k's RFC 7638 thumbprint", async () => {
    const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
    const keyset = structuredClone(keysets[3]) as Keyset;
    (keyset.keys[0] as { kid: string }).kid = 'not-the-thumbprint';
    expect(await put(fe, await sealKeyset(keyset, await sealingKeys()))).toEqual({
      status: 400,
      body: { error: 'keyset_invalid' },
    });
    expect(fe.edge.store.version).toBe(0);
  });

  it('refuses dates that are not RFC 3339 or not on the calendar, and expiry on the wrong kind of key', async () => {
    const changes: [string, (keyset: Keyset) => void][] = [
      ['expires_at "1"', (k) => Object.assign(k.keys[1] as object, { expires_at: '1' })],
      [
        'created_at February 30',
        (k) => Object.assign(k.keys[0] as object, { created_at: '2026-02-30T00:00:00Z' }),
      ],
      ['a previous key that never expires', (k) => Object.assign(k.keys[1] as object, { expires_at: null })],
      [
        'an active key that expires',
        (k) => Object.assign(k.keys[0] as object, { expires_at: '2030-01-01T00:00:00Z' }),
      ],
    ];
    for (const [name, change] of changes) {
      const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
      const keyset = structuredClone(keysets[3]) as Keyset;
      change(keyset);
      expect(await put(fe, await sealKeyset(keyset, await sealingKeys())), name).toEqual({
        status: 400,
        body: { error: 'keyset_invalid' },
      });
    }
  });
});

interface Corruption {
  name: string;
  apply: (keyset: Record<string, unknown>) => void;
}

function corrupt(name: string, apply: Corruption['apply']): Corruption {
  return { name, apply };
}

function setField(keyset: Record<string, unknown>, field: string, value: unknown): void {
  if (value === undefined) delete keyset[field];
  else keyset[field] = value;
}

function keysOf(keyset: Record<string, unknown>): unknown[] {
  return keyset.keys as unknown[];
}

function setKey(keyset: Record<string, unknown>, index: number, field: string, value: unknown): void {
  const key = keysOf(keyset)[index] as Record<string, unknown>;
  if (value === undefined) delete key[field];
  else key[field] = value;
}

/** jose's own CompactEncrypt with the production header, for a manifest whose payload is not a Keyset. */
function sealWith(plaintext: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'keyward-keyset+jws' })
    .encrypt(KEYSET_KEY_BYTES);
}
