/**
 * An HS256-only verify primitive in plain JavaScript: HMAC-SHA256 by @noble/hashes (audited, no dependencies),
 * keyed once per key, then per verify a copy of the keyed state, the signing input and two digests into buffers
 * held here: no call into the runtime, and nothing allocated but the hash's small views. Deno's node:crypto makes
 * an op call and a new Buffer per digest: in a loop the two cost about the same, but in a server, between socket
 * reads, this one takes about a fifth less CPU per /verify request (`npm run bench`, cases runtimeVerify and
 * http). Where node:crypto is native code (Node, Bun) it is the faster, and this is not used. SHA-256 works on
 * 32-bit words with adds, shifts and xors: its time depends on the input's length only, and the comparison is
 * constant-time.
 */
import { type _HMAC, hmac } from '@noble/hashes/hmac.js';
import { type _SHA256, sha256 } from '@noble/hashes/sha2.js';
import { decodeBase64url } from '../../../shared/base64url.ts';
import type { VerifyPrimitive } from '../../../shared/verify-primitive.ts';

type Hmac = _HMAC<_SHA256>;

interface KeyedHmac {
  /** The HMAC state after the key's pads: copied, never updated. */
  keyed: Hmac;
  /** Where each verify works: the keyed state copied in, the signing input hashed, the tag read out. */
  working: Hmac;
}

/** The longest signing input, in UTF-8 bytes, written into the scratch buffer; longer ones get their own. */
const SCRATCH_INPUT_BYTES = 16 * 1024;
const scratch = new Uint8Array(SCRATCH_INPUT_BYTES);
const mac = new Uint8Array(32);
const encoder = new TextEncoder();

export const jsHmacVerify: VerifyPrimitive<KeyedHmac> = {
  name: 'js-hmac',
  importKey(entry) {
    if (entry.alg !== 'HS256') throw new TypeError(`js-hmac verifies HS256 only, not ${entry.alg}`);
    const keyed: Hmac = hmac.create(sha256, decodeBase64url(entry.k) as Uint8Array);
    return { keyed, working: keyed.clone() };
  },
  verify({ keyed, working }, signingInput, signature) {
    if (signature.length !== 32) return false;
    keyed._cloneInto(working);
    working.update(utf8Of(signingInput));
    working.digestInto(mac);
    let difference = 0;
    for (let i = 0; i < 32; i++) difference |= (mac[i] as number) ^ (signature[i] as number);
    // The right tag for whatever the last caller sent: not left lying in memory.
    mac.fill(0);
    return difference === 0;
  },
};

/**
 * The UTF-8 bytes of `text`: for ASCII (every signing input that got this far) written into the scratch buffer
 * one char code at a time, which costs less than a call into the runtime's encoder; otherwise encoded.
 * The view is valid until the next call.
 */
function utf8Of(text: string): Uint8Array {
  const length = text.length;
  if (length <= SCRATCH_INPUT_BYTES) {
    let i = 0;
    for (; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) break;
      scratch[i] = code;
    }
    if (i === length) return scratch.subarray(0, length);
  }
  return encoder.encode(text);
}
