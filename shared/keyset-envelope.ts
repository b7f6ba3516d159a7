/** The keyset envelope (SPEC section 5): JWE compact, `dir` + `A256GCM` under KEYSET_KEY, keyset JSON inside. */
import { CompactEncrypt, compactDecrypt, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { decodeBase64url, fromUtf8, utf8 } from './base64url.ts';
import { KeywardError } from './errors.ts';
import { parseJoseSegment } from './jose-segment.ts';
import type { Keyset } from './keyset.ts';
import { octThumbprint } from './kid.ts';

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

const rfc3339 = z.string().refine(isRfc3339, 'expected an RFC 3339 time');

const keyEntrySchema = z.object({
  kid: z.string().min(1).max(256),
  alg: z.literal('HS256'),
  k: z.string().refine((k) => (decodeBase64url(k)?.length ?? 0) > 0, 'expected base64url key bytes'),
  status: z.enum(['active', 'previous']),
  created_at: rfc3339,
  expires_at: rfc3339.nullable().default(null),
  version: z.number().int().nonnegative().default(0),
});

const keysetSchema = z
  .object({
    version: z.number().int().positive(),
    issued_at: rfc3339,
    keys: z.array(keyEntrySchema).min(1).max(1000),
  })
  .refine((keyset) => keyset.keys.filter((key) => key.status === 'active').length === 1, {
    message: 'expected exactly one active key',
  })
  .refine((keyset) => new Set(keyset.keys.map((key) => key.kid)).size === keyset.keys.length, {
    message: 'expected unique kids',
  })
  .refine((keyset) => keyset.keys.every((key) => (key.status === 'active') === (key.expires_at === null)), {
    message: 'expected expires_at null for the active key and a time for every previous key',
  });

/** Parses KEYSET_KEY (base64url of exactly 32 bytes). */
export function parseKeysetKey(text: string): Uint8Array {
  const key = decodeBase64url(text.trim());
  if (key?.length !== 32) {
    throw new KeywardError('envelope_key_invalid', 'KEYSET_KEY must be base64url of exactly 32 random bytes');
  }
  return key as Uint8Array;
}

/** Validates a parsed keyset; throws `keyset_invalid` naming the first problem. */
export function parseKeyset(value: unknown): Keyset {
  const result = keysetSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new KeywardError(
      'keyset_invalid',
      `keyset invalid at ${issue?.path.join('.') || '.'}: ${issue?.message}`,
    );
  }
  return result.data as Keyset;
}

/** Seals a keyset; `keyset_too_large` when edges would refuse the envelope (over MAX_ENVELOPE_BYTES). */
export async function sealKeyset(keyset: Keyset, key: Uint8Array): Promise<string> {
  const envelope = await new CompactEncrypt(utf8(JSON.stringify(keyset)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'keyward-keyset+json' })
    .encrypt(key);
  if (envelope.length > MAX_ENVELOPE_BYTES) {
    throw new KeywardError(
      'keyset_too_large',
      `Keyset too large: ${keyset.keys.length} keys seal to ${envelope.length} bytes, over the edges' limit of ${MAX_ENVELOPE_BYTES}; revoke previous keys or shorten GRACE_PERIOD`,
    );
  }
  return envelope;
}

/** Opens an envelope: `envelope_malformed` for anything that is not a JWE of the right shape,
 * `envelope_undecryptable` when the key does not open it, `keyset_invalid` for a bad plaintext. */
export async function openKeyset(envelope: string, key: Uint8Array): Promise<Keyset> {
  const text = envelope.trim();
  if (utf8(text).length > MAX_ENVELOPE_BYTES) {
    throw new KeywardError('envelope_malformed', 'envelope too large');
  }
  const parts = text.split('.');
  if (parts.length !== 5)
    throw new KeywardError('envelope_malformed', 'expected a JWE in compact serialization');
  const header = parseJoseSegment(parts[0] as string);
  if (header === undefined) {
    throw new KeywardError('envelope_malformed', 'JWE header is not base64url JSON');
  }
  const { alg, enc } = header;
  if (alg !== 'dir' || enc !== 'A256GCM') {
    throw new KeywardError('envelope_malformed', 'expected alg "dir" and enc "A256GCM"');
  }
  // Keyward never compresses; a `zip` envelope would inflate past MAX_ENVELOPE_BYTES before any check.
  if ('zip' in header) throw new KeywardError('envelope_malformed', 'compressed envelopes are not accepted');
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(text, key, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWEDecryptionFailed) {
      throw new KeywardError('envelope_undecryptable', 'envelope does not decrypt with KEYSET_KEY');
    }
    throw new KeywardError('envelope_malformed', 'envelope is not a valid JWE', { cause: error });
  }
  const json = fromUtf8(plaintext);
  let value: unknown;
  try {
    value = json === undefined ? undefined : JSON.parse(json);
  } catch {
    value = undefined;
  }
  if (value === undefined) throw new KeywardError('keyset_invalid', 'envelope plaintext is not JSON');
  const keyset = parseKeyset(value);
  // SPEC section 5: a kid is its key's thumbprint, so a kid a token names can only ever select that key.
  for (const entry of keyset.keys) {
    if ((await octThumbprint(entry.k)) !== entry.kid) {
      throw new KeywardError(
        'keyset_invalid',
        `keyset invalid: kid ${entry.kid} is not its key's thumbprint`,
      );
    }
  }
  return keyset;
}
