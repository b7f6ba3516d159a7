/**
 * Bun's fetch inflates a compressed answer in its own thread, ahead of the reader: a gzip bomb inflates whole
 * however early the reader stops. This fetch asks Bun for the bytes as sent and inflates them here, 1 KiB of
 * input at a time (at most about 1 MiB out), so the limit a pull reads to holds (read-body.ts).
 */
const SLICE_BYTES = 1024;

/** `fetch` for the Bun entry: the same answers, inflated only as fast as the body is read. */
export const inflatingFetch: typeof fetch = async (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set('accept-encoding', 'gzip, deflate');
  const response = await fetch(input, { ...init, headers, decompress: false } as RequestInit);
  const encoding = response.headers.get('content-encoding')?.trim().toLowerCase() ?? 'identity';
  if (encoding === 'identity' || response.body === null) return response;
  if (encoding !== 'gzip' && encoding !== 'x-gzip' && encoding !== 'deflate') {
    await response.body.cancel();
    throw new TypeError(`answer with Content-Encoding ${encoding.slice(0, 40)}: not asked for, not read`);
  }
  const slices = new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
    transform(chunk, controller) {
      for (let at = 0; at < chunk.byteLength; at += SLICE_BYTES)
        controller.enqueue(chunk.subarray(at, at + SLICE_BYTES));
    },
  });
  const decoded = response.body
    .pipeThrough(slices)
    .pipeThrough(new DecompressionStream(encoding === 'deflate' ? 'deflate' : 'gzip'));
  const plain = new Headers(response.headers);
  plain.delete('content-encoding');
  plain.delete('content-length');
  return new Response(decoded, { status: response.status, statusText: response.statusText, headers: plain });
};
