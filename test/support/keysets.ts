/** Test keysets, envelopes and tokens. Web APIs only, so both the workerd and the node suites use it. */
import { CompactEncrypt, SignJWT } from 'jose';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import type { KeyEntry, Keyset } from '../../shared/keyset.ts';
import {
  type OpeningKeys,
  openingKeys,
  parseKeysetKey,
  type SealingKeys,
  sealKeyset,
} from '../../shared/keyset-envelope.ts';
import { importSigner, parseSigningSeed, parseVerifyKeys } from '../../shared/keyset-signing-key.ts';
import { computeKid } from '../../shared/kid.ts';
import { signManifest } from '../../shared/signed-manifest.ts';

/** Bytes 0..31, as in vitest.config.ts. */
export const KEYSET_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';
export const KEYSET_KEY_BYTES = parseKeysetKey(KEYSET_KEY);
/** Another valid KEYSET_KEY, for envelopes from a foreign control plane. */
export const FOREIGN_KEYSET_KEY = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8';
/** KEYSET_SIGNING_KEY: the seed bytes 64..95. */
export const KEYSET_SIGNING_KEY = 'QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8';
/** KEYSET_VERIFY_KEY: KEYSET_SIGNING_KEY's public key, as in vitest.config.ts. */
export const KEYSET_VERIFY_KEY = 'JUO5L_EJVRFHatyDadtt3JM2ZaEZeN2hQE7hBmypVZ0';
/** KEYSET_SIGNING_KEY as the control plane's configuration holds it (the seed bytes). */
export const KEYSET_SIGNING_SEED = parseSigningSeed(KEYSET_SIGNING_KEY);
/** Another valid signing key (seed bytes 96..127), for manifests from someone who is not the control plane. */
export const FOREIGN_SIGNING_KEY = 'YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8';
/** FOREIGN_SIGNING_KEY's public key. */
export const FOREIGN_VERIFY_KEY = 'F0VTtFbd38aQjsqxwQH-arIeK6oGF3lbfUOmNIKZP9U';
/** The variables every test edge is given: both keys of the test control plane. */
export const EDGE_KEYS = { KEYSET_KEY, KEYSET_VERIFY_KEY } as const;

/** The keys the test control plane seals with (KEYSET_KEY given as bytes, or the default one). */
export async function sealingKeys(
  keysetKey: Uint8Array | undefined = KEYSET_KEY_BYTES,
  signingKey: string = KEYSET_SIGNING_KEY,
): Promise<SealingKeys> {
  return { keysetKey, signer: await importSigner(parseSigningSeed(signingKey)) };
}

/** The keys an edge of the test control plane opens envelopes with (KEYSET_KEY given as bytes, or the default). */
export function openingKeysFor(
  keysetKey: Uint8Array = KEYSET_KEY_BYTES,
  verifyKey: string = KEYSET_VERIFY_KEY,
): OpeningKeys {
  return openingKeys([keysetKey], parseVerifyKeys(verifyKey));
}

/** The default opening keys: KEYSET_KEY and KEYSET_VERIFY_KEY. */
export const OPENING_KEYS = openingKeysFor();

/** A secret the way the deployment guide makes them (`openssl rand -base64 48`), used as text. */
export function secret(label: string): string {
  return `${label}-${'s3cr3t-material-'.repeat(3)}`.slice(0, 64);
}

export interface KeySpec {
  secret: string;
  /** Previous keys only. */
  expiresAt?: Date;
}

export async function buildKeyset(
  version: number,
  active: string,
  previous: KeySpec[] = [],
): Promise<Keyset> {
  const created = new Date('2026-01-01T00:00:00Z');
  const entry = async (spec: KeySpec, index: number): Promise<KeyEntry> => ({
    kid: await computeKid(spec.secret),
    alg: 'HS256',
    k: encodeBase64url(utf8(spec.secret)),
    status: index === 0 ? 'active' : 'previous',
    created_at: new Date(created.getTime() - index * 86_400_000).toISOString(),
    expires_at: index === 0 ? null : (spec.expiresAt ?? new Date('2100-01-01T00:00:00Z')).toISOString(),
    version: version - index,
  });
  const keys = await Promise.all([{ secret: active }, ...previous].map(entry));
  return { version, issued_at: created.toISOString(), keys };
}

/** Signs with `signingKey` and seals under `key`, as a control plane holding those keys would. */
export async function seal(
  keyset: Keyset,
  key: string = KEYSET_KEY,
  signingKey: string = KEYSET_SIGNING_KEY,
): Promise<string> {
  return sealKeyset(keyset, await sealingKeys(parseKeysetKey(key), signingKey));
}

/** A bare signed manifest (SPEC section 9, no encryption), signed with `signingKey`. */
export async function signManifestOf(
  keyset: Keyset,
  signingKey: string = KEYSET_SIGNING_KEY,
): Promise<string> {
  return signManifest(JSON.stringify(keyset), await importSigner(parseSigningSeed(signingKey)));
}

/** The unsigned envelope of SPEC section 5 (no `cty`), as any JWE library would make it under KEYSET_KEY. */
export function sealWithSpecParametersOnly(keyset: Keyset): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(keyset)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .encrypt(KEYSET_KEY_BYTES);
}

export interface SignOptions {
  kid?: string;
  alg?: 'HS256' | 'HS384' | 'HS512';
}

/** A token signed with jose. */
export function signWithJose(
  secretText: string,
  claims: Record<string, unknown>,
  options: SignOptions = {},
): Promise<string> {
  const header: { alg: string; kid?: string } = { alg: options.alg ?? 'HS256' };
  if (options.kid !== undefined) header.kid = options.kid;
  return new SignJWT(claims).setProtectedHeader(header).sign(new TextEncoder().encode(secretText));
}

const HASH = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' } as const;

/** A token signed with bare WebCrypto and a base64url of its own, sharing no code with jose or shared/. */
export async function signByHand(
  secretText: string,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const alg = (header.alg as keyof typeof HASH) in HASH ? (header.alg as keyof typeof HASH) : 'HS256';
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secretText),
    { name: 'HMAC', hash: HASH[alg] },
    false,
    ['sign'],
  );
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input)));
  return `${input}.${b64urlBytes(signature)}`;
}

/** `alg: none`: header and claims, empty signature. */
export function unsignedToken(claims: Record<string, unknown>, kid?: string): string {
  return `${b64url(JSON.stringify(kid === undefined ? { alg: 'none' } : { alg: 'none', kid }))}.${b64url(JSON.stringify(claims))}.`;
}

function b64url(text: string): string {
  return b64urlBytes(new TextEncoder().encode(text));
}

function b64urlBytes(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Seconds since the epoch, as JWT claims count time. */
export function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}
