/**
 * Property-based fuzzing of PUT /keyset with what passes the envelope but must still be refused: bodies over
 * MAX_ENVELOPE_BYTES, plaintexts that decrypt but are not a valid keyset, and what the keyset schema refuses
 * even from whoever holds KEYSET_KEY. Against a real edge through edge.fetch; after every case the held keyset
 * never changes (test/support/envelope-fuzz-harness.ts).
 */
import fc from 'fast-check';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Keyset } from '../../shared/keyset.ts';
import { MAX_ENVELOPE_BYTES, sealKeyset } from '../../shared/keyset-envelope.ts';
import { envelopeFuzz, manifest, NOW, runs, SPEC_HEADER } from '../support/envelope-fuzz-harness.ts';
import { fuzzEdge, sealRaw } from '../support/jose-by-hand.ts';
import { EDGE_KEYS, KEYSET_KEY_BYTES, sealingKeys } from '../support/keysets.ts';

/** Stands for a number too large for a double (JSON has no Infinity); replaced by 1e400 in the plaintext. */
const INFINITY = '__becomes_1e400__';

const fz = envelopeFuzz('limits and plaintexts');
const { keysets, envelopes, put, expectHeldUnchanged, refused } = fz;

describe('PUT /keyset under fuzzing: the held keyset never changes', () => {
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
            answer = await put(fz.held, stream);
          } else if (how === 'declared') {
            answer = await put(fz.held, body, { 'content-length': String(bytes) });
          } else {
            answer = await put(fz.held, body);
          }
          if (bytes > MAX_ENVELOPE_BYTES)
            expect(answer).toEqual({ status: 413, body: { error: 'envelope_too_large' } });
          // The v2 envelope padded with whitespace is still the held version: 200, nothing changes.
          else if (how === 'padded-envelope')
            expect(answer).toMatchObject({ status: 200, body: { version: 2 } });
          else expect(answer.status).toBe(400);
          await expectHeldUnchanged();
        },
      ),
      { numRuns: runs(120) },
    );
    // Far over the limit, and a declared length that lies about a small body.
    await refused('x'.repeat(4 * MAX_ENVELOPE_BYTES), [413], 'envelope_too_large');
    const lying = await put(fz.held, 'tiny', { 'content-length': String(MAX_ENVELOPE_BYTES + 1) });
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
