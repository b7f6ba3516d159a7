import { randomBytes } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../test/support/keyward-error-code.ts';
import { encodeBase64url, utf8 } from './base64url.ts';
import { type Keyset, rotateKeyset } from './keyset.ts';
import { holdsSecrets, openingKeys, openKeyset, sealKeyset } from './keyset-envelope.ts';
import {
  generateSigningPair,
  importSigner,
  okpThumbprint,
  parseSigningSeed,
  parseVerifyKeys,
} from './keyset-signing-key.ts';
import { computeKid } from './kid.ts';
import { nodeEnvelopeCrypto } from './runtime/node-envelope.ts';
import { MANIFEST_TYPE, signManifest, verifyManifest } from './signed-manifest.ts';

const KEY = new Uint8Array(randomBytes(32));
const OTHER_KEY = new Uint8Array(randomBytes(32));
const SIGNER = await importSigner(new Uint8Array(randomBytes(32)));
const FOREIGN = await importSigner(new Uint8Array(randomBytes(32)));
const OPEN = openingKeys([KEY], [SIGNER.publicKey]);

async function keyset(): Promise<Keyset> {
  const secret = 'signed-manifest-test-secret-0123456789abcdef';
  return rotateKeyset(
    null,
    { secret, kid: await computeKid(secret) },
    { now: new Date('2026-01-01T00:00:00Z'), gracePeriodMs: 1000 },
  );
}

const segment = (value: unknown) =>
  encodeBase64url(utf8(typeof value === 'string' ? value : JSON.stringify(value)));

/** Encrypts `manifest` as sealKeyset does, under `key`. */
function encrypt(
  manifest: string,
  key = KEY,
  header: Record<string, unknown> = { alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE },
) {
  return new CompactEncrypt(utf8(manifest))
    .setProtectedHeader(header as { alg: string; enc: string })
    .encrypt(key);
}

describe('the signed manifest (SPEC section 9)', () => {
  it('has exactly the header the SPEC names, the kid being the RFC 7638 thumbprint of the OKP public JWK', async () => {
    const manifest = await signManifest('{}', SIGNER);
    const [header, payload, signature] = manifest.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      typ: 'keyward-keyset+jws',
      kid: SIGNER.kid,
    });
    // RFC 7638 by hand: SHA-256 of the lexicographically ordered required members.
    const jwk = `{"crv":"Ed25519","kty":"OKP","x":"${encodeBase64url(SIGNER.publicKey)}"}`;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', Buffer.from(jwk)));
    expect(SIGNER.kid).toBe(encodeBase64url(digest));
    expect(await okpThumbprint(SIGNER.publicKey)).toBe(SIGNER.kid);
    expect(Buffer.from(payload, 'base64url').toString()).toBe('{}');
    expect(Buffer.from(signature, 'base64url')).toHaveLength(64);
    // node:crypto, sharing no code with shared/, agrees that the signature is Ed25519 over header.payload.
    const { createPublicKey, verify } = await import('node:crypto');
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: encodeBase64url(SIGNER.publicKey) },
      format: 'jwk',
    });
    expect(
      verify(null, Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url')),
    ).toBe(true);
  });

  it('keygen pairs: the verify key is the public half of the signing key', async () => {
    const { signingKey, verifyKey } = await generateSigningPair();
    const signer = await importSigner(parseSigningSeed(signingKey));
    expect(parseVerifyKeys(verifyKey)).toEqual([signer.publicKey]);
    const verifiers = await openingKeys([], parseVerifyKeys(verifyKey)).verifiers;
    expect(new TextDecoder().decode(await verifyManifest(await signManifest('x', signer), verifiers))).toBe(
      'x',
    );
  });

  it('refuses every change to the header, however small, and keys it does not hold', async () => {
    const manifest = await signManifest('{"a":1}', SIGNER);
    const [, payload, signature] = manifest.split('.') as [string, string, string];
    const verifiers = await OPEN.verifiers;
    const headers: unknown[] = [
      { alg: 'none', typ: MANIFEST_TYPE, kid: SIGNER.kid },
      { alg: 'EdDSA', typ: 'JWT', kid: SIGNER.kid },
      { alg: 'EdDSA', typ: 'keyward-keyset+json', kid: SIGNER.kid },
      { alg: 'EdDSA', typ: MANIFEST_TYPE, kid: FOREIGN.kid },
      { alg: 'EdDSA', typ: MANIFEST_TYPE },
      { alg: 'EdDSA', typ: MANIFEST_TYPE, kid: SIGNER.kid, crit: ['exp'] },
      { alg: 'EdDSA', typ: MANIFEST_TYPE, kid: SIGNER.kid, jku: 'https://attacker.test/keys' },
      { alg: 'EdDSA', typ: MANIFEST_TYPE, kid: SIGNER.kid, b64: false },
      // Same members, other order or spacing: other bytes, so the signature no longer covers them.
      { kid: SIGNER.kid, typ: MANIFEST_TYPE, alg: 'EdDSA' },
      `{"alg": "EdDSA","typ":"${MANIFEST_TYPE}","kid":"${SIGNER.kid}"}`,
      { alg: 'EdDSA', typ: MANIFEST_TYPE, kid: 42 },
    ];
    for (const header of headers) {
      const code = await codeOf(verifyManifest(`${segment(header)}.${payload}.${signature}`, verifiers));
      expect(code, JSON.stringify(header)).toBe('envelope_signature_invalid');
    }
    // Signed by a key the edge does not hold, with the held key's kid in the header.
    const forged = await signManifest('{"a":1}', { ...FOREIGN, kid: SIGNER.kid });
    expect(await codeOf(verifyManifest(forged, verifiers))).toBe('envelope_signature_invalid');
  });

  it('refuses truncated, extended, bit-flipped and non-canonical signatures and payloads', async () => {
    const manifest = await signManifest('{"a":1}', SIGNER);
    const [header, payload, signature] = manifest.split('.') as [string, string, string];
    const verifiers = await OPEN.verifiers;
    const bytes = Buffer.from(signature, 'base64url');
    const refusals: Array<[string, string]> = [
      [`${header}.${payload}.`, 'envelope_signature_invalid'],
      [`${header}.${payload}.${bytes.subarray(0, 63).toString('base64url')}`, 'envelope_signature_invalid'],
      [
        `${header}.${payload}.${Buffer.concat([bytes, Buffer.from([0])]).toString('base64url')}`,
        'envelope_signature_invalid',
      ],
      [`${header}.${segment('{"a":2}')}.${signature}`, 'envelope_signature_invalid'],
      [`${header}.${payload}.${signature}=`, 'envelope_malformed'],
      [`${header}.${payload}.${bytes.toString('base64')}`, 'envelope_malformed'],
      [`${header}.${payload}.${signature}.`, 'envelope_malformed'],
      [`${header}.${payload}`, 'envelope_malformed'],
    ];
    // The last character of 64 bytes carries 4 spare bits: setting one is another encoding of the same bytes.
    const last = signature.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] as string;
    refusals.push([`${header}.${payload}.${signature.slice(0, -1)}${sibling}`, 'envelope_malformed']);
    for (let bit = 0; bit < 512; bit += 37) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      refusals.push([`${header}.${payload}.${flipped.toString('base64url')}`, 'envelope_signature_invalid']);
    }
    for (const [jws, code] of refusals) {
      expect(await codeOf(verifyManifest(jws, verifiers)), jws.slice(-20)).toBe(code);
    }
  });
});

describe('the envelope around it', () => {
  it('seals a keyset that holds a secret as a JWE with cty keyward-keyset+jws around the signed manifest', async () => {
    const held = await keyset();
    expect(holdsSecrets(held)).toBe(true);
    const envelope = await sealKeyset(held, { keysetKey: KEY, signer: SIGNER });
    expect(JSON.parse(Buffer.from(envelope.split('.')[0] as string, 'base64url').toString())).toEqual({
      alg: 'dir',
      enc: 'A256GCM',
      cty: 'keyward-keyset+jws',
    });
    expect(await openKeyset(envelope, OPEN)).toEqual(held);
    // A keyset with a secret and no KEYSET_KEY to seal it under: never sent in clear.
    expect(await codeOf(sealKeyset(held, { keysetKey: undefined, signer: SIGNER }))).toBe(
      'envelope_key_missing',
    );
  });

  it('refuses, with the right KEYSET_KEY, a manifest signed by another key and the unsigned envelope of section 5', async () => {
    const held = await keyset();
    const foreign = await sealKeyset(held, { keysetKey: KEY, signer: FOREIGN });
    expect(await codeOf(openKeyset(foreign, OPEN))).toBe('envelope_signature_invalid');
    const unsigned = await encrypt(JSON.stringify(held), KEY, {
      alg: 'dir',
      enc: 'A256GCM',
      cty: 'keyward-keyset+json',
    });
    expect(await codeOf(openKeyset(unsigned, OPEN))).toBe('envelope_signature_invalid');
    const bare = await encrypt(JSON.stringify(held), KEY, { alg: 'dir', enc: 'A256GCM' });
    expect(await codeOf(openKeyset(bare, OPEN))).toBe('envelope_signature_invalid');
    // The right cty around a bare keyset: still no signature.
    expect(await codeOf(openKeyset(await encrypt(JSON.stringify(held)), OPEN))).toBe(
      'envelope_signature_invalid',
    );
    // The right cty, but a keyset that was never signed, in a manifest-shaped wrapper with alg none.
    const none = `${segment({ alg: 'none', typ: MANIFEST_TYPE, kid: SIGNER.kid })}.${segment(JSON.stringify(held))}.`;
    expect(await codeOf(openKeyset(await encrypt(none), OPEN))).toBe('envelope_signature_invalid');
  });

  it('refuses as unsigned (401) a JWE with the right KEYSET_KEY and cty that opens to no well-formed manifest', async () => {
    const held = await keyset();
    const json = JSON.stringify(held);
    const undotted = json.replaceAll('.', '');
    // However many dots the keyset's dates put in it, it is no signed manifest.
    const plaintexts = {
      'the bare keyset': json,
      'a keyset text with no dot': undotted,
      'a keyset text of three dot-separated parts': `${undotted}.x.y`,
      'a keyset text of five dot-separated parts': `${undotted}.a.b.c.d`,
      'text with no dot': 'not a manifest',
      'a manifest with a non-canonical signature': `${await signManifest(json, SIGNER)}=`,
      'a manifest whose header is no JSON': `${segment('alg EdDSA')}.${segment(json)}.${'A'.repeat(86)}`,
    };
    const withNodeCrypto = openingKeys([KEY], [SIGNER.publicKey], nodeEnvelopeCrypto);
    for (const [name, plaintext] of Object.entries(plaintexts)) {
      const envelope = await encrypt(plaintext);
      expect(await codeOf(openKeyset(envelope, OPEN)), name).toBe('envelope_signature_invalid');
      expect(await codeOf(openKeyset(envelope, withNodeCrypto)), `${name}, node:crypto`).toBe(
        'envelope_signature_invalid',
      );
    }
    // The same texts arriving as they are, not inside a JWE, are malformed envelopes (400).
    expect(await codeOf(openKeyset(json, OPEN))).toBe('envelope_malformed');
    expect(await codeOf(openKeyset(`${await signManifest(json, SIGNER)}=`, OPEN))).toBe('envelope_malformed');
    expect(await codeOf(openKeyset('not a manifest', OPEN))).toBe('envelope_malformed');
  });

  it('refuses a bare signed manifest that carries a secret: envelope_unencrypted, after the signature', async () => {
    const held = await keyset();
    const bare = await signManifest(JSON.stringify(held), SIGNER);
    expect(await codeOf(openKeyset(bare, OPEN))).toBe('envelope_unencrypted');
    // Unsigned by a held key, it is refused for that first: nothing about it is believed.
    expect(await codeOf(openKeyset(await signManifest(JSON.stringify(held), FOREIGN), OPEN))).toBe(
      'envelope_signature_invalid',
    );
  });

  it('opens with either of two KEYSET_KEYs and either of two verify keys, and with none refuses every JWE', async () => {
    const held = await keyset();
    const two = openingKeys([OTHER_KEY, KEY], [FOREIGN.publicKey, SIGNER.publicKey]);
    expect(await openKeyset(await sealKeyset(held, { keysetKey: KEY, signer: SIGNER }), two)).toEqual(held);
    expect(await openKeyset(await sealKeyset(held, { keysetKey: OTHER_KEY, signer: FOREIGN }), two)).toEqual(
      held,
    );
    const none = openingKeys([], [SIGNER.publicKey]);
    expect(await codeOf(openKeyset(await sealKeyset(held, { keysetKey: KEY, signer: SIGNER }), none))).toBe(
      'envelope_undecryptable',
    );
  });
});
