/** Reads a body as UTF-8 text, refusing more than `maxBytes` (decoded) without buffering the excess. */
import { fromUtf8 } from '../../../shared/base64url.ts';
import { EdgeError } from '../errors.ts';

/** Returns undefined for a body that is not valid UTF-8; throws `body_too_large` over `maxBytes`. */
export async function readBodyText(
  message: Request | Response,
  maxBytes: number,
): Promise<string | undefined> {
  // A response's declared length counts the bytes on the wire: fetch decodes a Content-Encoding as the body is
  // read, so a small gzip answer can inflate to hundreds of MiB. Responses are counted as they are decoded.
  const declared = message instanceof Response ? null : message.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await message.body?.cancel();
    throw tooLarge(maxBytes);
  }
  // A declared length within the limit: one native read, never touching `body` (on @hono/node-server that
  // getter turns the lazy request into a web stream, which costs more than the verify itself). Still
  // checked, since a peer may send more than it declared.
  if (declared !== null) {
    const bytes = new Uint8Array(await message.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
    return fromUtf8(bytes);
  }
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
