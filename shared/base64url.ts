/** base64url without padding, strict: the verify hot path and the keyset model both use it. */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: the text is exactly the bytes (a secret may begin with one).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * From this many bytes the runtime's own `btoa` encodes (every runtime has it): the loop below builds its string
 * four characters at a time, about 0.1 µs a byte (a signed revocation list of a few MB took most of a second),
 * while `btoa` runs in native code once the bytes are a binary string. Below it the loop is as fast.
 */
const NATIVE_FROM_BYTES = 4096;
/** Bytes turned into a binary string per String.fromCharCode call (its arguments go on the stack). */
const CHUNK = 0x2000;

export function encodeBase64url(bytes: Uint8Array): string {
  if (bytes.length >= NATIVE_FROM_BYTES) {
    let binary = '';
    for (let i = 0; i < bytes.length; i += CHUNK) {
      // apply takes the typed array as it is; a spread would walk it through an iterator, several times slower.
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
    }
    const padded = btoa(binary);
    const end = padded.endsWith('==') ? -2 : padded.endsWith('=') ? -1 : padded.length;
    return padded.slice(0, end).replace(/\+/g, '-').replace(/\//g, '_');
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
