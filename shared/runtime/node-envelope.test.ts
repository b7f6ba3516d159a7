/**
 * openKeyset with node:crypto's synchronous open against the WebCrypto path: the same keyset or the same error
 * (code and message) for good envelopes and for every kind of bad one, and the synchronous path really taken for
 * the plain shape.
 */
import { randomBytes } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../../test/support/key-pairs.ts';
import { encodeBase64url } from '../base64url.ts';
import { KeywardError } from '../errors.ts';
import { type Keyset, rotateKeyset } from '../keyset.ts';
import { type EnvelopeCrypto, openingKeys, openKeyset, sealKeyset } from '../keyset-envelope.ts';
import { importSigner } from '../keyset-signing-key.ts';
import { computeKid } from '../kid.ts';
import { MANIFEST_TYPE, signManifest } from '../signed-manifest.ts';
import { nodeEnvelopeCrypto } from './node-envelope.ts';

const KEY = new Uint8Array(randomBytes(32));
const OTHER_KEY = new Uint8Array(randomBytes(32));
const SIGNER = await importSigner(new Uint8Array(randomBytes(32)));
const OTHER_SIGNER = await importSigner(new Uint8Array(randomBytes(32)));
const SEAL = { keysetKey: KEY, signer: SIGNER };

/** nodeEnvelopeCrypto, counting its calls. */
function counted(): { crypto: EnvelopeCrypto; calls: Record<keyof EnvelopeCrypto, number> } {
  const calls = { decryptA256Gcm: 0, verifyEd25519: 0, sha256: 0 };
  return {
    calls,
    crypto: {
      decryptA256Gcm(...args) {
        calls.decryptA256Gcm++;
        return nodeEnvelopeCrypto.decryptA256Gcm(...args);
      },
      verifyEd25519(...args) {
        calls.verifyEd25519++;
        return nodeEnvelopeCrypto.verifyEd25519(...args);
      },
      sha256(...args) {
        calls.sha256++;
        return nodeEnvelopeCrypto.sha256(...args);
      },
    },
  };
}

async function hsKeyset(): Promise<Keyset> {
  const a = 'node-envelope-secret-a-0123456789abcdef';
  const b = 'node-envelope-secret-b-0123456789abcdef';
  const now = new Date('2026-03-01T12:00:00.000Z');
  const first = rotateKeyset(null, { secret: a, kid: await computeKid(a) }, { now, gracePeriodMs: 1000 });
  return rotateKeyset(first, { secret: b, kid: await computeKid(b) }, { now, gracePeriodMs: 86_400_000 });
}

async function jwe(plaintext: string, header: Record<string, unknown> = {}, key = KEY): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE, ...header })
    .encrypt(key);
}

/** The keyset, or the error's code and message. */
async function outcome(envelope: string, crypto?: EnvelopeCrypto): Promise<unknown> {
  try {
    return { keyset: await openKeyset(envelope, openingKeys([KEY], [SIGNER.publicKey], crypto)) };
  } catch (error) {
    if (!(error instanceof KeywardError)) throw error;
    return { code: error.code, message: error.message };
  }
}

function replaceSegment(envelope: string, index: number, value: string): string {
  const parts = envelope.split('.');
  parts[index] = value;
  return parts.join('.');
}

describe('openKeyset with node:crypto (nodeEnvelopeCrypto)', () => {
  it('opens what the WebCrypto path opens, with the synchronous crypto doing the work', async () => {
    const keyset = await hsKeyset();
    const mixed = await buildMixedKeyset(6, [
      { key: 'node-envelope-secret-c-0123456789abcdef' },
      { key: ES256_PAIR, status: 'standby' },
      { key: EDDSA_PAIR, status: 'previous' },
    ]);
    const publicOnly = edgeView(
      await buildMixedKeyset(4, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'previous' }]),
    );
    for (const [value, expected] of [
      [keyset, keyset],
      [mixed, edgeView(mixed)],
      [publicOnly, publicOnly],
    ] as const) {
      const envelope = await sealKeyset(value, SEAL);
      const { crypto, calls } = counted();
      expect(await outcome(envelope, crypto)).toEqual({ keyset: expected });
      expect(await outcome(envelope)).toEqual({ keyset: expected });
      expect(calls.decryptA256Gcm).toBe(envelope.split('.').length === 5 ? 1 : 0);
      expect(calls.verifyEd25519).toBe(1);
      expect(calls.sha256).toBe(expected.keys.length);
    }
  });

  it('refuses every bad envelope with the same code and message as the WebCrypto path', async () => {
    const keyset = await hsKeyset();
    const good = await sealKeyset(keyset, SEAL);
    const manifest = await signManifest(JSON.stringify(keyset), SIGNER);
    const [, , iv, ciphertext, tag] = good.split('.') as string[];
    const flip = (segment: string) => (segment.startsWith('A') ? 'B' : 'A') + segment.slice(1);
    const wrongKid = {
      ...keyset,
      keys: keyset.keys.map((key) => ({ ...key, kid: `${key.kid.slice(0, -1)}A` })),
    };
    const bad: Record<string, string> = {
      'another KEYSET_KEY': await sealKeyset(keyset, { ...SEAL, keysetKey: OTHER_KEY }),
      'another signing key': await sealKeyset(keyset, { ...SEAL, signer: OTHER_SIGNER }),
      'tampered ciphertext': replaceSegment(good, 3, flip(ciphertext as string)),
      'tampered tag': replaceSegment(good, 4, flip(tag as string)),
      'tampered iv': replaceSegment(good, 2, flip(iv as string)),
      'short iv': replaceSegment(good, 2, encodeBase64url(new Uint8Array(8))),
      'an encrypted key': replaceSegment(good, 1, 'AAAA'),
      'a crit header': replaceSegment(
        good,
        0,
        encodeBase64url(
          new TextEncoder().encode(
            JSON.stringify({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE, crit: ['exp'], exp: 1 }),
          ),
        ),
      ),
      'no cty': replaceSegment(
        good,
        0,
        encodeBase64url(new TextEncoder().encode('{"alg":"dir","enc":"A256GCM"}')),
      ),
      'a kid that is not the thumbprint': await jwe(await signManifest(JSON.stringify(wrongKid), SIGNER)),
      'plaintext not a manifest': await jwe('not a manifest'),
      'plaintext not UTF-8': await new CompactEncrypt(new Uint8Array([0xff, 0xfe, 0xfd]))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })
        .encrypt(KEY),
      'a bare manifest holding a secret': manifest,
      'a bad signature on the bare manifest': replaceSegment(
        await sealKeyset(edgeView(await buildMixedKeyset(2, [{ key: EDDSA_PAIR }])), SEAL),
        2,
        encodeBase64url(new Uint8Array(64)),
      ),
    };
    // Another header member is covered by the tag and means nothing to `dir`: opened (the WebCrypto path).
    const extraMember = await jwe(await signManifest(JSON.stringify(keyset), SIGNER), { kid: 'x' });
    expect(await outcome(extraMember, nodeEnvelopeCrypto)).toEqual(await outcome(extraMember));
    expect(await outcome(extraMember)).toEqual({ keyset });
    for (const [name, envelope] of Object.entries(bad)) {
      const webCrypto = await outcome(envelope);
      expect(webCrypto, name).toHaveProperty('code');
      expect(await outcome(envelope, nodeEnvelopeCrypto), name).toEqual(webCrypto);
    }
  });
});
