import { createHash, randomBytes } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../test/support/key-pairs.ts';
import { codeOf } from '../test/support/keyward-error-code.ts';
import { KeywardError } from './errors.ts';
import { prepareKeyRing } from './key-ring.ts';
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
import { computeKid, publicThumbprint } from './kid.ts';
import { nodeEnvelopeCrypto, nodeSealingCrypto } from './runtime/node-envelope.ts';
import { nodeVerify } from './runtime/node-verify.ts';
import { MANIFEST_TYPE, signManifest } from './signed-manifest.ts';
import { webCryptoVerify } from './verify-primitive.ts';

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
    // Invalid UTF-8 where the manifest should be: no signed manifest, refused as unsigned (401 on an edge).
    const badUtf8 = await new CompactEncrypt(new Uint8Array([0xff, 0xfe, 0x7b]))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })
      .encrypt(KEY);
    expect(await codeOf(openKeyset(badUtf8, OPEN))).toBe('envelope_signature_invalid');
    expect(
      await codeOf(openKeyset(badUtf8, openingKeys([KEY], [SIGNER.publicKey], nodeEnvelopeCrypto))),
    ).toBe('envelope_signature_invalid');
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

describe('sealKeyset with node:crypto (the control plane)', () => {
  const segments = (envelope: string) => envelope.split('.');
  const manifestOf = async (envelope: string) => {
    const [header, , iv, ciphertext, tag] = segments(envelope) as [string, string, string, string, string];
    const { createDecipheriv } = await import('node:crypto');
    const decipher = createDecipheriv('aes-256-gcm', KEY, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(header));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertext, 'base64url')),
      decipher.final(),
    ]).toString();
  };

  it('makes the envelope WebCrypto and jose make: same header, same signed manifest inside', async () => {
    const keyset = { ...(await sampleKeyset()), version: 7 };
    const viaJose = await sealKeyset(keyset, SEAL);
    const viaNode = await sealKeyset(keyset, { ...SEAL, crypto: nodeSealingCrypto });
    expect(segments(viaNode)).toHaveLength(5);
    expect(segments(viaNode)[0]).toBe(segments(viaJose)[0]);
    expect(segments(viaNode)[1]).toBe('');
    expect(Buffer.from(segments(viaNode)[2] as string, 'base64url')).toHaveLength(12);
    expect(Buffer.from(segments(viaNode)[4] as string, 'base64url')).toHaveLength(16);
    // Ed25519 is deterministic: the manifests are byte for byte the same.
    expect(await manifestOf(viaNode)).toBe(await manifestOf(viaJose));
    // Fresh IVs: sealing twice never repeats one under the same key.
    const again = await sealKeyset(keyset, { ...SEAL, crypto: nodeSealingCrypto });
    expect(segments(again)[2]).not.toBe(segments(viaNode)[2]);
  });

  it('opens on every path an edge has: jose and WebCrypto, and node:crypto', async () => {
    const keyset = { ...(await sampleKeyset()), version: 8 };
    const envelope = await sealKeyset(keyset, { ...SEAL, crypto: nodeSealingCrypto });
    const expected = parseKeyset(JSON.parse(JSON.stringify(keyset)));
    expect(await openKeyset(envelope, OPEN)).toEqual(expected);
    const sync = openingKeys([KEY], [SIGNER.publicKey], nodeEnvelopeCrypto);
    expect(await openKeyset(envelope, sync)).toEqual(expected);
  });

  it('signs a keyset of public keys only as the bare manifest, the same as WebCrypto signs it', async () => {
    const keyset = await buildMixedKeyset(3, [{ key: EDDSA_PAIR }]);
    const viaNode = await sealKeyset(keyset, { ...SEAL, crypto: nodeSealingCrypto });
    expect(viaNode).toBe(await sealKeyset(keyset, SEAL));
    expect(segments(viaNode)).toHaveLength(3);
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

describe('keysets with ES256 and EdDSA keys, as an edge opens them', () => {
  const SECRET = 'envelope-asym-secret-0123456789abcdefghij';
  /** HS256 active, ES256 standby, EdDSA previous, with `d` (the control plane's own copy). */
  const privateCopy = () =>
    buildMixedKeyset(6, [
      { key: SECRET },
      { key: ES256_PAIR, status: 'standby' },
      { key: EDDSA_PAIR, status: 'previous' },
    ]);
  /** EdDSA active, ES256 previous: no secret, so it travels as the bare signed manifest. */
  const publicOnly = async () =>
    edgeView(await buildMixedKeyset(4, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'previous' }]));
  const json = (value: unknown) =>
    JSON.parse(JSON.stringify(value)) as Record<string, unknown> & { keys: Record<string, unknown>[] };
  /** The envelope an edge receives for `value`: a JWE when it holds an HS256 key, the bare manifest otherwise. */
  const envelopeOf = async (value: { keys: { alg?: unknown }[] }) =>
    value.keys.some((key) => key.alg === 'HS256')
      ? sealRaw(JSON.stringify(value))
      : signManifest(JSON.stringify(value), SIGNER);
  /** openKeyset's refusal: its code and message (which must name `where` and never carry key material). */
  async function refusal(value: { keys: { alg?: unknown }[] }): Promise<string> {
    try {
      await openKeyset(await envelopeOf(value), OPEN);
    } catch (error) {
      expect(error).toBeInstanceOf(KeywardError);
      const { code, message } = error as KeywardError;
      expect(code).toBe('keyset_invalid');
      for (const pair of [ES256_PAIR, EDDSA_PAIR]) expect(message).not.toContain(pair.d);
      return message;
    }
    throw new Error('expected openKeyset to refuse');
  }

  it('opens a public keyset from the bare signed manifest and a mixed one from the JWE, unchanged', async () => {
    const bare = await publicOnly();
    const manifest = await sealKeyset(bare, SEAL);
    expect(manifest.split('.')).toHaveLength(3);
    expect(await openKeyset(manifest, OPEN)).toEqual(bare);
    const mixed = await privateCopy();
    const jwe = await sealKeyset(mixed, SEAL);
    expect(jwe.split('.')).toHaveLength(5);
    // sealKeyset strips d: what opens is the public view.
    expect(await openKeyset(jwe, OPEN)).toEqual(edgeView(mixed));
  });

  it('refuses a keyset that carries a private key d, naming keys.N.d and never echoing it', async () => {
    const mixed = json(await privateCopy());
    expect(await refusal(mixed)).toContain('keys.1.d');
    const onlyEd = json(await publicOnly());
    (onlyEd.keys[0] as Record<string, unknown>).d = EDDSA_PAIR.d;
    expect(await refusal(onlyEd)).toContain('keys.0.d');
    const onlyEs = json(await publicOnly());
    (onlyEs.keys[1] as Record<string, unknown>).d = (ES256_PAIR as { d: string }).d;
    expect(await refusal(onlyEs)).toContain('keys.1.d');
    // A d on an HS256 key too.
    const hs = json(edgeView(await privateCopy()));
    (hs.keys[0] as Record<string, unknown>).d = EDDSA_PAIR.d;
    expect(await refusal(hs)).toContain('keys.0.d');
  });

  it('refuses k on an asymmetric key, and the wrong kty, crv or members for its alg', async () => {
    const base = await publicOnly();
    const k = Buffer.from(SECRET).toString('base64url');
    const cases: [string, (ed: Record<string, unknown>, es: Record<string, unknown>) => void][] = [
      [
        'keys.0.k',
        (ed) => {
          ed.k = k;
        },
      ],
      [
        'keys.1.k',
        (_ed, es) => {
          es.k = k;
        },
      ],
      [
        'keys.0.kty',
        (ed) => {
          ed.kty = 'EC';
        },
      ],
      [
        'keys.0.crv',
        (ed) => {
          ed.crv = 'X25519';
        },
      ],
      [
        'keys.0.crv',
        (ed) => {
          ed.crv = 'Ed448';
        },
      ],
      [
        'keys.0.y',
        (ed) => {
          ed.y = ES256_PAIR.kty === 'EC' ? ES256_PAIR.y : '';
        },
      ],
      [
        'keys.1.kty',
        (_ed, es) => {
          es.kty = 'OKP';
        },
      ],
      [
        'keys.1.crv',
        (_ed, es) => {
          es.crv = 'P-384';
        },
      ],
      [
        'keys.1.crv',
        (_ed, es) => {
          es.crv = 'secp256k1';
        },
      ],
      [
        'keys.1.y',
        (_ed, es) => {
          delete es.y;
        },
      ],
      [
        'keys.0.alg',
        (ed) => {
          ed.alg = 'Ed25519';
        },
      ],
      [
        'keys.1.alg',
        (_ed, es) => {
          es.alg = 'ES256K';
        },
      ],
      // An EC key presented as EdDSA and the reverse: the members give it away.
      [
        'keys.1.kty',
        (_ed, es) => {
          es.alg = 'EdDSA';
        },
      ],
      [
        'keys.0.kty',
        (ed) => {
          ed.alg = 'ES256';
        },
      ],
    ];
    for (const [where, change] of cases) {
      const value = json(base);
      change(value.keys[0] as Record<string, unknown>, value.keys[1] as Record<string, unknown>);
      expect(await refusal(value), where).toContain(`${where}:`);
    }
  });

  it('refuses x or y that are not base64url of exactly 32 bytes', async () => {
    const base = await publicOnly();
    const bytes = (n: number) => Buffer.alloc(n, 7).toString('base64url');
    for (const bad of [bytes(31), bytes(33), bytes(64), '', 'not base64url!', `${bytes(32)}=`, 42, null]) {
      for (const [index, member] of [
        [0, 'x'],
        [1, 'x'],
        [1, 'y'],
      ] as const) {
        const value = json(base);
        (value.keys[index] as Record<string, unknown>)[member] = bad;
        expect(await refusal(value), `${member} ${String(bad)}`).toContain(`keys.${index}.${member}:`);
      }
    }
  });

  it('refuses a kid that is not the thumbprint of the public JWK (swapped, oct-style, or with d in it)', async () => {
    const base = await publicOnly();
    const kids = [
      await computeKid(EDDSA_PAIR.x),
      await publicThumbprint({ kty: 'OKP', crv: 'Ed25519', x: ES256_PAIR.x }),
      // A thumbprint over the private JWK, d included (RFC 7638 takes the required public members only).
      createHash('sha256')
        .update(`{"crv":"Ed25519","d":"${EDDSA_PAIR.d}","kty":"OKP","x":"${EDDSA_PAIR.x}"}`)
        .digest('base64url'),
      'ed25519-key',
    ];
    for (const kid of kids) {
      const value = json(base);
      (value.keys[0] as Record<string, unknown>).kid = kid;
      expect(await refusal(value), kid).toContain("is not its key's thumbprint");
    }
    // The two kids swapped: each names the other key, so a token's kid would select the wrong algorithm.
    const swapped = json(base);
    (swapped.keys[0] as Record<string, unknown>).kid = ES256_PAIR.kid;
    (swapped.keys[1] as Record<string, unknown>).kid = EDDSA_PAIR.kid;
    expect(await refusal(swapped)).toContain("is not its key's thumbprint");
  });

  it('checks a kid again unless the keyset already checked holds that kid over the very same key', async () => {
    const base = await publicOnly();
    const held = await openKeyset(await envelopeOf(json(base)), OPEN);
    // The kids swapped: each names a key the checked keyset holds, but over the other key's material.
    const swapped = json(base);
    (swapped.keys[0] as Record<string, unknown>).kid = ES256_PAIR.kid;
    (swapped.keys[1] as Record<string, unknown>).kid = EDDSA_PAIR.kid;
    await expect(openKeyset(await envelopeOf(swapped), OPEN, held)).rejects.toThrow(
      keywardError('keyset_invalid', expect.stringContaining("is not its key's thumbprint")),
    );
    // A new key under a kid of its own is checked too.
    const added = json(base);
    const fresh = edgeView(await buildMixedKeyset(1, [{ key: SECRET }])).keys[0] as unknown as Record<
      string,
      unknown
    >;
    added.keys.push({
      ...fresh,
      kid: EDDSA_PAIR.kid.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
      status: 'previous',
      expires_at: '2100-01-01T00:00:00.000Z',
    });
    await expect(openKeyset(await envelopeOf(added), OPEN, held)).rejects.toThrow(
      keywardError('keyset_invalid', expect.stringContaining("is not its key's thumbprint")),
    );
    // The same keys again: taken, their kids matched against the checked keyset rather than hashed.
    expect((await openKeyset(await envelopeOf(json(base)), OPEN, held)).keys).toEqual(held.keys);
  });

  it('refuses two standby keys, and a standby key with expires_at', async () => {
    const two = json(await publicOnly());
    (two.keys[1] as Record<string, unknown>).status = 'standby';
    (two.keys[1] as Record<string, unknown>).expires_at = null;
    const third = edgeView(await buildMixedKeyset(1, [{ key: SECRET }]));
    two.keys.push({ ...(third.keys[0] as unknown as Record<string, unknown>), status: 'standby' });
    expect(await refusal(two)).toContain('at most one standby key');
    const expiring = json(await publicOnly());
    (expiring.keys[1] as Record<string, unknown>).status = 'standby';
    expect(await refusal(expiring)).toContain('expires_at');
    const noActive = json(await publicOnly());
    (noActive.keys[0] as Record<string, unknown>).status = 'standby';
    expect(await refusal(noActive)).toContain('exactly one active key');
  });

  it('opens an ES256 key that is not a P-256 point, and the ring refuses to import it (keyset_invalid)', async () => {
    // x and y of 32 bytes each, with the right thumbprint, but y^2 != x^3 - 3x + b: no signature can match it.
    const x = Buffer.alloc(32, 1).toString('base64url');
    const notAPoint = { kty: 'EC' as const, crv: 'P-256' as const, x, y: x };
    const base = await publicOnly();
    const value = json(base);
    Object.assign(value.keys[1] as Record<string, unknown>, notAPoint, {
      kid: await publicThumbprint(notAPoint),
    });
    const opened = await openKeyset(await envelopeOf(value), OPEN);
    for (const primitive of [nodeVerify, webCryptoVerify] as const) {
      await expect(prepareKeyRing(opened, primitive as never)).rejects.toThrow(
        keywardError('keyset_invalid', expect.stringMatching(/key \S+ \(ES256\) does not import/)),
      );
    }
  });

  it('parseKeyset keeps d only with {private: true}, and publicKeyset of that is what travels', async () => {
    const copy = json(await privateCopy());
    expect(codeOfSync(() => parseKeyset(copy))).toBe('keyset_invalid');
    const parsed = parseKeyset(copy, { private: true });
    expect(parsed.keys.map((key) => (key.alg === 'HS256' ? undefined : key.d))).toEqual([
      undefined,
      (ES256_PAIR as { d: string }).d,
      EDDSA_PAIR.d,
    ]);
    expect(parseKeyset(JSON.parse(JSON.stringify(edgeView(parsed))))).toEqual(edgeView(parsed));
    // {private: true} relaxes nothing else: k on an asymmetric key is still refused.
    const withK = json(copy);
    (withK.keys[1] as Record<string, unknown>).k = 'AAAA';
    expect(() => parseKeyset(withK, { private: true })).toThrow(
      keywardError('keyset_invalid', expect.stringContaining('keys.1.k')),
    );
  });
});
