/**
 * The keyset envelope (SPEC section 9): the signed manifest (signed-manifest.ts), inside a JWE compact `dir` +
 * `A256GCM` under KEYSET_KEY whenever the keyset holds a secret.
 */
import { CompactEncrypt, compactDecrypt, errors as joseErrors } from 'jose';
import { decodeBase64url, encodeBase64url, fromUtf8, utf8 } from './base64url.ts';
import { KeywardError } from './errors.ts';
import { parseJoseSegment } from './jose-segment.ts';
import {
  KEY_ALGORITHMS,
  type KeyEntry,
  type KeyStatus,
  type Keyset,
  publicKeyset,
  sameKey,
} from './keyset.ts';
import { importVerifier, type KeysetSigner, type KeysetVerifier } from './keyset-signing-key.ts';
import { octThumbprint, publicThumbprint } from './kid.ts';
import { MANIFEST_TYPE, signManifest, verifyManifest } from './signed-manifest.ts';

/** Envelopes larger than this are refused before any parsing (a keyset of a few keys is ~1 KB). */
export const MAX_ENVELOPE_BYTES = 64 * 1024;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** RFC 3339 date-time, on a day the calendar has (Date.parse takes "1" and rolls February 30 over). */
function isRfc3339(text: string): boolean {
  const match = RFC3339.exec(text);
  if (match === null || Number.isNaN(Date.parse(text))) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
}

/** Parses KEYSET_KEY (base64url of exactly 32 bytes). */
export function parseKeysetKey(text: string): Uint8Array {
  const key = decodeBase64url(text.trim());
  if (key?.length !== 32) {
    throw new KeywardError('envelope_key_invalid', 'KEYSET_KEY must be base64url of exactly 32 random bytes');
  }
  return key as Uint8Array;
}

/** Parses an edge's KEYSET_KEY: one key, or two separated by a comma while the key is being replaced. */
export function parseKeysetKeys(text: string): Uint8Array[] {
  const parts = text.split(',');
  if (parts.length > 2) {
    throw new KeywardError(
      'envelope_key_invalid',
      'KEYSET_KEY holds at most two keys (old and new, comma-separated)',
    );
  }
  return parts.map(parseKeysetKey);
}

export interface ParseKeysetOptions {
  /**
   * Accept asymmetric keys' private member `d`: only for the control plane's own copy (`jwt_secrets:state`).
   * Anywhere else a `d` is refused: a keyset never carries a private key.
   */
  private?: boolean;
}

/**
 * Validates a parsed keyset (SPEC sections 5 and 8); throws `keyset_invalid` naming the first problem and where it
 * is. Returns a fresh keyset holding only the known fields, with the optional ones filled in (`expires_at` null,
 * `version` 0). Written by hand rather than with a schema library, which would be most of the worker's bundle.
 */
export function parseKeyset(value: unknown, options: ParseKeysetOptions = {}): Keyset {
  const keyset = object(value, '');
  const version = integer(keyset.version, 'version', 1);
  const issued_at = time(keyset.issued_at, 'issued_at');
  const list = keyset.keys;
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_KEYS) {
    invalid('keys', `expected an array of 1 to ${MAX_KEYS} keys`);
  }
  const keys = list.map((entry, index) => keyEntry(entry, `keys.${index}`, options));
  if (keys.filter((key) => key.status === 'active').length !== 1)
    invalid('', 'expected exactly one active key');
  if (keys.filter((key) => key.status === 'standby').length > 1)
    invalid('', 'expected at most one standby key');
  if (new Set(keys.map((key) => key.kid)).size !== keys.length) invalid('', 'expected unique kids');
  if (!keys.every((key) => (key.status === 'previous') === (key.expires_at !== null))) {
    invalid(
      '',
      'expected a time in expires_at for every previous key and null for the active and standby keys',
    );
  }
  const previous_hash = keyset.previous_hash;
  if (previous_hash === undefined || previous_hash === null) return { version, issued_at, keys };
  if (typeof previous_hash !== 'string' || decodeBase64url(previous_hash)?.length !== 32) {
    invalid('previous_hash', 'expected base64url of a SHA-256 hash');
  }
  return { version, issued_at, keys, previous_hash };
}

const MAX_KEYS = 1000;
const MAX_KID_LENGTH = 256;
const STATUSES: readonly string[] = ['standby', 'active', 'previous'];

function keyEntry(value: unknown, path: string, options: ParseKeysetOptions): KeyEntry {
  const entry = object(value, path);
  const { kid, alg, status } = entry;
  if (typeof kid !== 'string' || kid.length < 1 || kid.length > MAX_KID_LENGTH) {
    invalid(`${path}.kid`, `expected a string of 1 to ${MAX_KID_LENGTH} characters`);
  }
  if (!(KEY_ALGORITHMS as readonly unknown[]).includes(alg)) {
    invalid(`${path}.alg`, `expected one of ${KEY_ALGORITHMS.map((name) => `"${name}"`).join(', ')}`);
  }
  if (typeof status !== 'string' || !STATUSES.includes(status)) {
    invalid(`${path}.status`, 'expected "standby", "active" or "previous"');
  }
  const base = {
    kid,
    status: status as KeyStatus,
    created_at: time(entry.created_at, `${path}.created_at`),
    expires_at:
      entry.expires_at === undefined || entry.expires_at === null
        ? null
        : time(entry.expires_at, `${path}.expires_at`),
    version: entry.version === undefined ? 0 : integer(entry.version, `${path}.version`, 0),
  };
  if (alg === 'HS256') {
    for (const member of ['d', 'x', 'y', 'crv', 'kty']) {
      if (member in entry) invalid(`${path}.${member}`, 'an HS256 key holds only "k"');
    }
    const { k } = entry;
    if (typeof k !== 'string' || (decodeBase64url(k)?.length ?? 0) === 0) {
      invalid(`${path}.k`, 'expected base64url key bytes');
    }
    return { ...base, alg, k };
  }
  if ('k' in entry) invalid(`${path}.k`, `an ${alg} key carries no secret "k"`);
  const d = entry.d === undefined ? undefined : coordinate(entry.d, `${path}.d`);
  if (d !== undefined && !options.private) {
    invalid(`${path}.d`, 'a keyset never carries a private key');
  }
  const x = coordinate(entry.x, `${path}.x`);
  if (alg === 'ES256') {
    if (entry.kty !== 'EC') invalid(`${path}.kty`, 'expected "EC" for ES256');
    if (entry.crv !== 'P-256') invalid(`${path}.crv`, 'expected "P-256" for ES256');
    const y = coordinate(entry.y, `${path}.y`);
    return { ...base, alg, kty: 'EC', crv: 'P-256', x, y, ...(d === undefined ? {} : { d }) };
  }
  if (entry.kty !== 'OKP') invalid(`${path}.kty`, 'expected "OKP" for EdDSA');
  if (entry.crv !== 'Ed25519') invalid(`${path}.crv`, 'expected "Ed25519" for EdDSA');
  if ('y' in entry) invalid(`${path}.y`, 'an Ed25519 key has no "y"');
  return { ...base, alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', x, ...(d === undefined ? {} : { d }) };
}

/** A P-256 coordinate or scalar, or an Ed25519 key: base64url of exactly 32 bytes. */
function coordinate(value: unknown, path: string): string {
  if (typeof value !== 'string' || decodeBase64url(value)?.length !== 32) {
    invalid(path, 'expected base64url of 32 bytes');
  }
  return value;
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(path, 'expected an object');
  return value as Record<string, unknown>;
}

/** A safe integer of at least `min`. */
function integer(value: unknown, path: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    invalid(path, `expected an integer of at least ${min}`);
  }
  return value;
}

function time(value: unknown, path: string): string {
  if (typeof value !== 'string' || !isRfc3339(value)) invalid(path, 'expected an RFC 3339 time');
  return value;
}

function invalid(path: string, problem: string): never {
  throw new KeywardError('keyset_invalid', `keyset invalid at ${path || '.'}: ${problem}`);
}

/** What a control plane seals with: the signing key always, KEYSET_KEY when the keyset carries a secret. */
export interface SealingKeys {
  keysetKey: Uint8Array | undefined;
  signer: KeysetSigner;
  /** The runtime's synchronous crypto (node:crypto on the control plane): the same envelope, no thread-pool hops. */
  crypto?: SealingCrypto;
}

/**
 * Synchronous crypto a runtime may offer for sealing: what WebCrypto does in an import, an encrypt and a sign, each
 * a thread-pool hop and a promise, done in one turn. The envelope is the one the WebCrypto path makes (Ed25519
 * signatures are deterministic; the IV is random either way).
 */
export interface SealingCrypto {
  /** AES-256-GCM seal with a 12-byte IV and a 16-byte tag. */
  encryptA256Gcm(
    key: Uint8Array,
    iv: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): { ciphertext: Uint8Array; tag: Uint8Array };
  /** Ed25519 signature of `data` with the signer's private key. */
  signEd25519(privateKey: CryptoKey, data: Uint8Array): Uint8Array;
}

/** The JWE protected header a control plane seals under, as jose's CompactEncrypt serializes it. */
const SEALED_HEADER = encodeBase64url(
  utf8(JSON.stringify({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })),
);

/**
 * Synchronous crypto a runtime may offer for opening envelopes (node:crypto on Node and Bun): no thread-pool hop
 * and no promise per step, where WebCrypto pays both for the AES-GCM open, the Ed25519 check and each kid's
 * SHA-256. Only the well-formed shape is opened with it; anything else takes the WebCrypto path, so the errors
 * are the same on every runtime.
 */
export interface EnvelopeCrypto {
  /** AES-256-GCM open with a 12-byte IV and a 16-byte tag; undefined when the tag does not verify. */
  decryptA256Gcm(
    key: Uint8Array,
    iv: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array | undefined;
  /** Ed25519 verification with a raw 32-byte public key. */
  verifyEd25519(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): boolean;
  sha256(data: Uint8Array): Uint8Array;
}

/** What an edge opens with: one or two KEYSET_KEYs (none refuses every JWE), one or two verify keys. */
export interface OpeningKeys {
  keysetKeys: readonly Uint8Array[];
  verifiers: Promise<readonly KeysetVerifier[]>;
  /** The runtime's synchronous crypto, when it has one. */
  crypto?: EnvelopeCrypto;
}

/** Opening keys from parsed variables; the public keys are imported once, on first use. */
export function openingKeys(
  keysetKeys: readonly Uint8Array[],
  verifyKeys: readonly Uint8Array[],
  crypto?: EnvelopeCrypto,
): OpeningKeys {
  let verifiers: Promise<readonly KeysetVerifier[]> | undefined;
  return {
    keysetKeys,
    crypto,
    get verifiers() {
      // The raw key rides along for the synchronous check.
      verifiers ??= Promise.all(
        verifyKeys.map(async (raw) => ({ ...(await importVerifier(raw)), ...(crypto ? { raw } : {}) })),
      );
      return verifiers;
    },
  };
}

/**
 * Whether a keyset must travel encrypted: it holds a symmetric secret (every HS256 key is one). A keyset of
 * public keys only (SPEC section 8) travels as the bare signed manifest, and needs no KEYSET_KEY.
 */
export function holdsSecrets(keyset: Keyset): boolean {
  return keyset.keys.some((key) => key.alg === 'HS256');
}

/**
 * Signs a keyset and, when it holds a secret, encrypts the signed manifest under KEYSET_KEY (SPEC section 9);
 * `keyset_too_large` when edges would refuse the envelope (over MAX_ENVELOPE_BYTES). Private members of
 * asymmetric keys never enter it: the control plane's own copy may hold them, the envelope never does.
 */
export async function sealKeyset(keyset: Keyset, keys: SealingKeys): Promise<string> {
  const sync = keys.crypto;
  const manifest = await signManifest(
    JSON.stringify(publicKeyset(keyset)),
    keys.signer,
    MANIFEST_TYPE,
    sync && ((data) => sync.signEd25519(keys.signer.privateKey, data)),
  );
  let envelope = manifest;
  if (holdsSecrets(keyset)) {
    if (keys.keysetKey === undefined) {
      throw new KeywardError(
        'envelope_key_missing',
        'KEYSET_KEY is not set: a keyset that holds an HS256 secret travels only encrypted under it (set KEYSET_KEY, or use ES256 or EdDSA keys)',
      );
    }
    envelope = sync
      ? encryptSync(manifest, keys.keysetKey, sync)
      : await new CompactEncrypt(utf8(manifest))
          .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })
          .encrypt(keys.keysetKey);
  }
  if (envelope.length > MAX_ENVELOPE_BYTES) {
    throw new KeywardError(
      'keyset_too_large',
      `Keyset too large: ${keyset.keys.length} keys seal to ${envelope.length} bytes, over the edges' limit of ${MAX_ENVELOPE_BYTES}; revoke previous keys or shorten GRACE_PERIOD`,
    );
  }
  return envelope;
}

/** The JWE compact `dir` + `A256GCM` of `manifest`, as CompactEncrypt makes it: no encrypted key, a random IV. */
function encryptSync(manifest: string, keysetKey: Uint8Array, crypto: SealingCrypto): string {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const { ciphertext, tag } = crypto.encryptA256Gcm(keysetKey, iv, utf8(manifest), utf8(SEALED_HEADER));
  return `${SEALED_HEADER}..${encodeBase64url(iv)}.${encodeBase64url(ciphertext)}.${encodeBase64url(tag)}`;
}

/**
 * Opens an envelope (SPEC section 9): `envelope_malformed` for anything that is not a JWE or JWS of the right
 * shape, `envelope_undecryptable` when no KEYSET_KEY opens it, `envelope_signature_invalid` when no verify key
 * signed it (the unsigned envelope of section 5 included, and a JWE that opens to no well-formed manifest),
 * `envelope_unencrypted` for a bare manifest that carries a secret, `keyset_invalid` for a bad keyset. `checked`:
 * a keyset whose kids were checked when it was taken (the held one); a key it holds under the same kid, with the
 * same key material, is not hashed again.
 */
export async function openKeyset(envelope: string, keys: OpeningKeys, checked?: Keyset): Promise<Keyset> {
  const text = envelope.trim();
  if (utf8(text).length > MAX_ENVELOPE_BYTES) {
    throw new KeywardError('envelope_malformed', 'envelope too large');
  }
  const segments = text.split('.').length;
  if (segments !== 5 && segments !== 3) {
    throw new KeywardError('envelope_malformed', 'expected a JWE or a JWS in compact serialization');
  }
  const encrypted = segments === 5;
  const manifest = encrypted
    ? ((keys.crypto && decryptSync(text, keys.keysetKeys, keys.crypto)) ??
      (await decrypt(text, keys.keysetKeys)))
    : text;
  const verifiers = await keys.verifiers;
  let verified: Uint8Array;
  try {
    verified = await verifyManifest(manifest, verifiers, keys.crypto);
  } catch (error) {
    // A JWE that opened under KEYSET_KEY arrived whole: a plaintext in it that is no well-formed manifest (a bare
    // keyset, say) is no signed manifest either.
    if (encrypted && error instanceof KeywardError && error.code === 'envelope_malformed') {
      throw noSignedManifest(error.message, error);
    }
    throw error;
  }
  const keyset = await parseManifestKeyset(verified, keys.crypto, checked);
  // Signed by the control plane or not, a secret that crossed the network in clear is no longer one.
  if (!encrypted && holdsSecrets(keyset)) {
    throw new KeywardError('envelope_unencrypted', 'a keyset that holds a secret must arrive encrypted');
  }
  return keyset;
}

/** Exactly the header a control plane seals with; any other takes the WebCrypto path (and its errors). */
const PLAIN_HEADER_MEMBERS = ['alg', 'cty', 'enc'];

/**
 * The manifest inside the plain shape of envelope, opened with the runtime's synchronous crypto: header exactly
 * `{alg: "dir", enc: "A256GCM", cty}`, no encrypted key, a 12-byte IV and a 16-byte tag. Undefined for any other
 * shape (the WebCrypto path then judges it); `envelope_undecryptable` when no held key opens it.
 */
function decryptSync(
  jwe: string,
  keysetKeys: readonly Uint8Array[],
  crypto: EnvelopeCrypto,
): string | undefined {
  const [headerPart, encryptedKey, ivPart, ciphertextPart, tagPart] = jwe.split('.') as [
    string,
    string,
    string,
    string,
    string,
  ];
  const header = parseJoseSegment(headerPart);
  if (
    header === undefined ||
    Object.keys(header).sort().join() !== PLAIN_HEADER_MEMBERS.join() ||
    header.alg !== 'dir' ||
    header.enc !== 'A256GCM' ||
    header.cty !== MANIFEST_TYPE ||
    encryptedKey !== ''
  ) {
    return undefined;
  }
  const iv = decodeBase64url(ivPart);
  const ciphertext = decodeBase64url(ciphertextPart);
  const tag = decodeBase64url(tagPart);
  if (iv?.length !== 12 || tag?.length !== 16 || ciphertext === undefined || ciphertext.length === 0) {
    return undefined;
  }
  const aad = utf8(headerPart);
  for (const key of keysetKeys) {
    const plaintext = crypto.decryptA256Gcm(key, iv, ciphertext, tag, aad);
    if (plaintext === undefined) continue;
    const manifest = fromUtf8(plaintext);
    if (manifest === undefined) throw noSignedManifest('its plaintext is not UTF-8');
    return manifest;
  }
  throw new KeywardError('envelope_undecryptable', 'envelope does not decrypt with KEYSET_KEY');
}

/**
 * A JWE that opened under KEYSET_KEY but holds no signed manifest: a keyset nobody signed, refused as the unsigned
 * envelope of section 5 is (401 on an edge, SPEC section 9).
 */
function noSignedManifest(why: string, cause?: unknown): KeywardError {
  return new KeywardError('envelope_signature_invalid', `the JWE holds no signed manifest: ${why}`, {
    cause,
  });
}

/** The signed manifest inside a JWE `dir` + `A256GCM` with `cty` keyward-keyset+jws, decrypted by any held key. */
async function decrypt(jwe: string, keysetKeys: readonly Uint8Array[]): Promise<string> {
  const header = parseJoseSegment(jwe.slice(0, jwe.indexOf('.')));
  if (header === undefined) {
    throw new KeywardError('envelope_malformed', 'JWE header is not base64url JSON');
  }
  const { alg, enc, cty } = header;
  if (alg !== 'dir' || enc !== 'A256GCM') {
    throw new KeywardError('envelope_malformed', 'expected alg "dir" and enc "A256GCM"');
  }
  // Keyward never compresses; a `zip` envelope would inflate past MAX_ENVELOPE_BYTES before any check.
  if ('zip' in header) throw new KeywardError('envelope_malformed', 'compressed envelopes are not accepted');
  // The envelope of SPEC section 5 (cty "keyward-keyset+json" or none, a bare keyset inside) carries no
  // signature. Other members are covered by the GCM tag and mean nothing to `dir`; the manifest inside is what
  // is parsed strictly.
  if (cty !== MANIFEST_TYPE) {
    throw new KeywardError(
      'envelope_signature_invalid',
      `expected a signed manifest inside the JWE (cty "${MANIFEST_TYPE}")`,
    );
  }
  let failure: unknown;
  for (const key of keysetKeys) {
    try {
      const { plaintext } = await compactDecrypt(jwe, key, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      const manifest = fromUtf8(plaintext);
      if (manifest === undefined) throw noSignedManifest('its plaintext is not UTF-8');
      return manifest;
    } catch (error) {
      if (!(error instanceof joseErrors.JWEDecryptionFailed)) {
        if (error instanceof KeywardError) throw error;
        throw new KeywardError('envelope_malformed', 'envelope is not a valid JWE', { cause: error });
      }
      failure = error;
    }
  }
  throw new KeywardError('envelope_undecryptable', 'envelope does not decrypt with KEYSET_KEY', {
    cause: failure,
  });
}

/** The keyset a verified manifest payload holds, with every kid checked against its key. */
async function parseManifestKeyset(
  payload: Uint8Array,
  crypto?: EnvelopeCrypto,
  checked?: Keyset,
): Promise<Keyset> {
  const json = fromUtf8(payload);
  let value: unknown;
  try {
    value = json === undefined ? undefined : JSON.parse(json);
  } catch {
    value = undefined;
  }
  if (value === undefined) throw new KeywardError('keyset_invalid', 'manifest payload is not JSON');
  const keyset = parseKeyset(value);
  // SPEC sections 5 and 8: a kid is its key's thumbprint, so a kid a token names can only ever select that key.
  for (const entry of keyset.keys) {
    const held = checked?.keys.find((key) => key.kid === entry.kid);
    if (held !== undefined && sameKey(held, entry)) continue;
    const thumbprint = crypto
      ? thumbprintSync(entry, crypto)
      : entry.alg === 'HS256'
        ? octThumbprint(entry.k)
        : publicThumbprint(entry);
    if ((await thumbprint) !== entry.kid) {
      throw new KeywardError(
        'keyset_invalid',
        `keyset invalid: kid ${entry.kid} is not its key's thumbprint`,
      );
    }
  }
  return keyset;
}

/**
 * RFC 7638 thumbprint with the runtime's SHA-256: the required members in lexicographic order, no whitespace, as
 * jose's calculateJwkThumbprint (kid.ts) serializes them. Every member is a base64url or fixed string.
 */
function thumbprintSync(entry: KeyEntry, crypto: EnvelopeCrypto): string {
  const members =
    entry.alg === 'HS256'
      ? { k: entry.k, kty: 'oct' }
      : entry.alg === 'ES256'
        ? { crv: entry.crv, kty: entry.kty, x: entry.x, y: entry.y }
        : { crv: entry.crv, kty: entry.kty, x: entry.x };
  return encodeBase64url(crypto.sha256(utf8(JSON.stringify(members))));
}
