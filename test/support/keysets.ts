/** Test keysets, envelopes and tokens. Web APIs only, so both the workerd and the node suites use it. */
import { CompactEncrypt, SignJWT } from 'jose';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import type { KeyEntry, Keyset } from '../../shared/keyset.ts';
import { parseKeysetKey, sealKeyset } from '../../shared/keyset-envelope.ts';
import { computeKid } from '../../shared/kid.ts';

/** Bytes 0..31, as in vitest.config.ts. */
export const KEYSET_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';
export const KEYSET_KEY_BYTES = parseKeysetKey(KEYSET_KEY);
/** Another valid KEYSET_KEY, for envelopes from a foreign control plane. */
export const FOREIGN_KEYSET_KEY = 'ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8';

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

export function seal(keyset: Keyset, key: string = KEYSET_KEY): Promise<string> {
  return sealKeyset(keyset, parseKeysetKey(key));
}

/** An envelope made with nothing but SPEC section 5's parameters (no `cty`), as any JWE library would. */
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
