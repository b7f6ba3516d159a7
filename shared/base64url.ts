/** base64url without padding, strict: the verify hot path and the keyset model both use it. */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: the text is exactly the bytes (a secret may begin with one).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * From this many bytes a large input (a signed revocation list of a few MB) is encoded in one pass: by the
 * runtime's native `Uint8Array.prototype.toBase64` where it has one (Bun, Deno, workerd; Node from 25), else
 * into a byte array of ASCII codes read back with one TextDecoder call. The string-building loop below costs
 * about 0.1 µs a byte; below this size it is as fast and allocates less.
 */
const ONE_PASS_FROM_BYTES = 4096;
const CODES = Uint8Array.from(ALPHABET, (char) => char.charCodeAt(0));
const ascii = new TextDecoder();

type NativeBase64 = (this: Uint8Array, options: { alphabet: 'base64url'; omitPadding: boolean }) => string;
const nativeToBase64 = (Uint8Array.prototype as { toBase64?: NativeBase64 }).toBase64;
const NATIVE_OPTIONS = { alphabet: 'base64url', omitPadding: true } as const;

export function encodeBase64url(bytes: Uint8Array): string {
  if (bytes.length >= ONE_PASS_FROM_BYTES) {
    return nativeToBase64 === undefined ? encodeLarge(bytes) : nativeToBase64.call(bytes, NATIVE_OPTIONS);
  }
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/** The same encoding written into a byte array, four ASCII codes per three bytes, decoded to a string at once. */
function encodeLarge(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil((bytes.length * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out[o++] = CODES[n >> 18] as number;
    out[o++] = CODES[(n >> 12) & 63] as number;
    out[o++] = CODES[(n >> 6) & 63] as number;
    out[o++] = CODES[n & 63] as number;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = ((bytes[i] as number) << 16) | (rest === 2 ? (bytes[i + 1] as number) << 8 : 0);
    out[o++] = CODES[n >> 18] as number;
    out[o++] = CODES[(n >> 12) & 63] as number;
    if (rest === 2) out[o++] = CODES[(n >> 6) & 63] as number;
  }
  return ascii.decode(out.subarray(0, o));
}

// What `atob` takes but base64url is not: after `-`/`_` are mapped, atob would accept `+`, `/`, `=` padding
// and whitespace, and throws on every other character outside the alphabet. Searching for these few is
// several times cheaper than matching the whole segment against the alphabet.
const ATOB_ONLY = /[+/=\s]/;
const NON_ASCII = /[\x80-\xff]/;

/**
 * Decodes unpadded base64url into a binary string (one char per byte), or undefined for any other input
 * (padding, other alphabets, bad length, non-canonical trailing bits, which would let two encodings stand for
 * one token). `atob` is native on every runtime and several times faster than a decoder written in JS.
 */
function decodeToBinary(text: string): string | undefined {
  const rest = text.length % 4;
  if (rest === 1 || ATOB_ONLY.test(text)) return undefined;
  if (rest !== 0) {
    // -1 (not in the alphabet) fails the check too.
    const last = ALPHABET.indexOf(text.charAt(text.length - 1));
    if ((rest === 2 && (last & 15) !== 0) || (rest === 3 && (last & 3) !== 0)) return undefined;
  }
  try {
    return atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    // InvalidCharacterError: a character outside the alphabet.
    return undefined;
  }
}

/** Decodes unpadded base64url; returns undefined for any other input (padding, other alphabets, bad length). */
export function decodeBase64url(text: string): Uint8Array | undefined {
  const binary = decodeToBinary(text);
  return binary === undefined ? undefined : binaryToBytes(binary);
}

/** Decodes unpadded base64url holding UTF-8 text (a JOSE header or claims); undefined if either layer is bad. */
export function decodeBase64urlText(text: string): string | undefined {
  const binary = decodeToBinary(text);
  if (binary === undefined) return undefined;
  // ASCII (nearly every token) is its own UTF-8: no byte array, no TextDecoder.
  return NON_ASCII.test(binary) ? fromUtf8(binaryToBytes(binary)) : binary;
}

function binaryToBytes(binary: string): Uint8Array {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Strict UTF-8 decoding; undefined for invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
