import { randomBytes } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../test/support/keyward-error-code.ts';
import { KeywardError } from './errors.ts';
import { type HmacKeyEntry, type Keyset, rotateKeyset } from './keyset.ts';
import {
  MAX_ENVELOPE_BYTES,
  openingKeys,
  openKeyset,
  parseKeyset,
  parseKeysetKey,
  sealKeyset,
} from './keyset-envelope.ts';
import { importSigner } from './keyset-signing-key.ts';
import { computeKid } from './kid.ts';
import { MANIFEST_TYPE, signManifest } from './signed-manifest.ts';

const KEY = new Uint8Array(randomBytes(32));
const SIGNER = await importSigner(new Uint8Array(randomBytes(32)));
const SEAL = { keysetKey: KEY, signer: SIGNER };
const OPEN = openingKeys([KEY], [SIGNER.publicKey]);
const T0 = new Date('2025-03-01T12:00:00.000Z');

async function sampleKeyset(): Promise<Keyset> {
  const a = 'envelope-test-secret-a-0123456789abcdef';
  const b = 'envelope-test-secret-b-0123456789abcdef';
  const first = rotateKeyset(null, { secret: a, kid: await computeKid(a) }, { now: T0, gracePeriodMs: 1000 });
  return rotateKeyset(first, { secret: b, kid: await computeKid(b) }, { now: T0, gracePeriodMs: 86_400_000 });
}

function codeOfSync(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    return (error as KeywardError).code;
  }
  throw new Error('expected a throw');
}

/** Matches a thrown KeywardError with exactly this code and a message that `message` matches. */
function keywardError(code: string, message: unknown): unknown {
  return expect.objectContaining({ constructor: KeywardError, code, message });
}

/** Signs and encrypts arbitrary plaintext the way sealKeyset does. */
async function sealRaw(plaintext: string, key = KEY): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(await signManifest(plaintext, SIGNER)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })
    .encrypt(key);
}

describe('sealKeyset / openKeyset', () => {
  it('round-trips a keyset through a JWE dir/A256GCM envelope', async () => {
    const keyset = await sampleKeyset();
    const envelope = await sealKeyset(keyset, SEAL);
    const parts = envelope.split('.');
    expect(parts).toHaveLength(5);
    expect(parts[1]).toBe(''); // dir: no encrypted key
    const header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8'));
    expect(header).toEqual({ alg: 'dir', enc: 'A256GCM', cty: 'keyward-keyset+jws' });
    // The secrets do not appear in the envelope in any readable form.
    for (const key of keyset.keys) {
      expect(envelope).not.toContain((key as HmacKeyEntry).k);
      expect(envelope).not.toContain(Buffer.from((key as HmacKeyEntry).k, 'base64url').toString('utf8'));
    }
    expect(await openKeyset(envelope, OPEN)).toEqual(keyset);
    // Surrounding whitespace (a trailing newline from a file or a shell) is tolerated.
    expect(await openKeyset(`  ${envelope}\n`, OPEN)).toEqual(keyset);
  });

  it('refuses an envelope sealed under another key: envelope_undecryptable', async () => {
    const envelope = await sealKeyset(await sampleKeyset(), SEAL);
    const other = new Uint8Array(randomBytes(32));
    expect(await codeOf(openKeyset(envelope, openingKeys([other], [SIGNER.publicKey])))).toBe(
      'envelope_undecryptable',
    );
  });

  it('refuses a tampered ciphertext or tag: envelope_undecryptable', async () => {
    const envelope = await sealKeyset(await sampleKeyset(), SEAL);
    const parts = envelope.split('.');
    const flip = (segment: string) => {
      const bytes = Buffer.from(segment, 'base64url');
      bytes[0] = (bytes[0] as number) ^ 1;
      return bytes.toString('base64url');
    };
    const tamperedCiphertext = [parts[0], parts[1], parts[2], flip(parts[3] as string), parts[4]].join('.');
    const tamperedTag = [parts[0], parts[1], parts[2], parts[3], flip(parts[4] as string)].join('.');
    const tamperedIv = [parts[0], parts[1], flip(parts[2] as string), parts[3], parts[4]].join('.');
    expect(await codeOf(openKeyset(tamperedCiphertext, OPEN))).toBe('envelope_undecryptable');
    expect(await codeOf(openKeyset(tamperedTag, OPEN))).toBe('envelope_undecryptable');
    expect(await codeOf(openKeyset(tamperedIv, OPEN))).toBe('envelope_undecryptable');
  });

  it('refuses garbage and wrong shapes: envelope_malformed', async () => {
    const envelope = await sealKeyset(await sampleKeyset(), SEAL);
    const header = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const rest = envelope.split('.').slice(1).join('.');
    const cases = [
      '',
      'garbage',
      'a.b.c',
      'a.b.c.d.e',
      `${envelope}.extra`,
      `!!!.${rest}`,
      `${header({ alg: 'A256KW', enc: 'A256GCM' })}.${rest}`,
      `${header({ alg: 'dir', enc: 'A128GCM' })}.${rest}`,
      `${Buffer.from('[1,2]').toString('base64url')}.${rest}`,
      'x'.repeat(MAX_ENVELOPE_BYTES + 1),
    ];
    for (const text of cases) {
      expect(await codeOf(openKeyset(text, OPEN)), JSON.stringify(text.slice(0, 40))).toBe(
        'envelope_malformed',
      );
    }
  });

  it('refuses a plaintext that is not a valid keyset: keyset_invalid', async () => {
    const good = await sampleKeyset();
    const invalid: unknown[] = [
      'not json at all',
      '[]',
      '{}',
      { ...good, version: 0 },
      { ...good, version: 1.5 },
      { ...good, issued_at: 'yesterday' },
      { ...good, keys: [] },
      { ...good, keys: good.keys.map((key) => ({ ...key, status: 'previous' })) },
      { ...good, keys: good.keys.map((key) => ({ ...key, status: 'active' })) },
      { ...good, keys: [good.keys[0], good.keys[0]] },
      { ...good, keys: [{ ...good.keys[0], alg: 'HS512' }] },
      { ...good, keys: [{ ...good.keys[0], alg: 'none' }] },
      { ...good, keys: [{ ...good.keys[0], k: 'not base64url!' }] },
      { ...good, keys: [{ ...good.keys[0], k: '' }] },
      { ...good, keys: [{ ...good.keys[0], kid: '' }] },
    ];
    for (const value of invalid) {
      const plaintext = typeof value === 'string' ? value : JSON.stringify(value);
      expect(await codeOf(openKeyset(await sealRaw(plaintext), OPEN)), plaintext.slice(0, 60)).toBe(
        'keyset_invalid',
      );
    }
    // Invalid UTF-8 where the manifest should be.
    const badUtf8 = await new CompactEncrypt(new Uint8Array([0xff, 0xfe, 0x7b]))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })
      .encrypt(KEY);
    expect(await codeOf(openKeyset(badUtf8, OPEN))).toBe('envelope_malformed');
  });

  it('parseKeyset names the problem and fills defaults', async () => {
    const good = await sampleKeyset();
    expect(parseKeyset(JSON.parse(JSON.stringify(good)))).toEqual(good);
    expect(() => parseKeyset({ ...good, keys: [] })).toThrow(
      keywardError('keyset_invalid', expect.stringContaining('keys')),
    );
    // A keyset written by another implementation without the optional fields.
    const minimal = {
      version: 3,
      issued_at: T0.toISOString(),
      keys: [
        {
          kid: 'k1',
          alg: 'HS256',
          k: (good.keys[0] as HmacKeyEntry).k,
          status: 'active',
          created_at: T0.toISOString(),
        },
      ],
    };
    expect(parseKeyset(minimal).keys[0]).toMatchObject({ expires_at: null, version: 0 });
  });
});

describe('parseKeysetKey', () => {
  it('accepts base64url of exactly 32 bytes', () => {
    const text = Buffer.from(KEY).toString('base64url');
    expect(text).toHaveLength(43);
    expect(parseKeysetKey(text)).toEqual(KEY);
    expect(parseKeysetKey(` ${text}\n`)).toEqual(KEY);
  });

  it('refuses anything else: envelope_key_invalid', () => {
    const bad = [
      '',
      Buffer.alloc(31).toString('base64url'),
      Buffer.alloc(33).toString('base64url'),
      Buffer.alloc(64).toString('base64url'),
      Buffer.from(KEY).toString('base64'), // padded standard base64
      `${Buffer.from(KEY).toString('base64url')}=`,
      'not base64url at all, definitely not 32 bytes long!!',
      Buffer.from(KEY).toString('hex'),
    ];
    for (const text of bad)
      expect(
        codeOfSync(() => parseKeysetKey(text)),
        text,
      ).toBe('envelope_key_invalid');
  });

  it('does not echo the key in its error message', () => {
    const almost = Buffer.alloc(31, 9).toString('base64url');
    expect(() => parseKeysetKey(almost)).toThrow(
      keywardError('envelope_key_invalid', expect.not.stringContaining(almost)),
    );
  });
});
