/** Reads a body as UTF-8 text, refusing more than `maxBytes` (decoded) without buffering the excess. */
import { fromUtf8 } from '../../../shared/base64url.ts';
import { EdgeError } from '../errors.ts';

/**
 * Resolves to undefined for a body that is not valid UTF-8; rejects with `body_too_large` over `maxBytes`. No
 * async function: a request with a declared length in the limit costs one native read and one callback, with
 * no further promise between the bytes and the caller (the /verify hot path on Bun and Deno).
 */
export function readBodyText(message: Request | Response, maxBytes: number): Promise<string | undefined> {
  // A response's declared length counts the bytes on the wire: fetch decodes a Content-Encoding as the body is
  // read, so a small gzip answer can inflate to hundreds of MiB. Responses are counted as they are decoded.
  if (message instanceof Response) return readCounted(message, maxBytes);
  // A declared length within the limit: one native read, never touching `body` (on @hono/node-server that
  // getter turns the lazy request into a web stream, which costs more than the verify itself). Still
  // checked, since a peer may send more than it declared.
  if (declaredWithin(message, maxBytes)) return message.bytes().then((bytes) => textWithin(bytes, maxBytes));
  // Declared over the limit: refused unread. Declared as no number, or not at all: counted as it is read.
  return Number(message.headers.get('content-length')) > maxBytes
    ? refused(message, maxBytes)
    : readCounted(message, maxBytes);
}

/**
 * True when a request declares its length and that length is within `maxBytes`: its body can then be read in
 * one native read (`bytes()`) and checked with `textWithin` after.
 */
export function declaredWithin(request: Request, maxBytes: number): boolean {
  const declared = request.headers.get('content-length');
  return declared !== null && Number(declared) <= maxBytes;
}

/** The bytes as UTF-8 text (undefined when they are not); throws `body_too_large` over `maxBytes`. */
export function textWithin(bytes: Uint8Array, maxBytes: number): string | undefined {
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  return fromUtf8(bytes);
}

async function refused(message: Request, maxBytes: number): Promise<never> {
  await message.body?.cancel();
  throw tooLarge(maxBytes);
}

/** Reads the stream chunk by chunk, stopping as soon as the count passes `maxBytes`. */
async function readCounted(message: Request | Response, maxBytes: number): Promise<string | undefined> {
  if (message.body === null) return '';
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return fromUtf8(bytes);
}

function tooLarge(maxBytes: number): EdgeError {
  return new EdgeError('body_too_large', `body larger than ${maxBytes} bytes`);
}
