/**
 * The one-shot HMAC-SHA256 behind the node:crypto primitive gives createHmac's bytes for keys shorter than, as
 * long as and longer than a block, and for inputs of every size up to past the scratch buffer, non-ASCII
 * included; and the primitive accepts exactly the right signature.
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBase64url } from '../base64url.ts';
import { hmacSha256, nodeVerify } from './node-verify.ts';

const reference = (key: Uint8Array, input: string) => createHmac('sha256', key).update(input).digest();

describe('hmacSha256', () => {
  it('matches createHmac for keys around the block size', () => {
    for (const keyBytes of [0, 1, 31, 32, 63, 64, 65, 100, 128, 1000]) {
      const key = new Uint8Array(randomBytes(keyBytes));
      const mac = hmacSha256(key);
      for (const input of ['', 'a', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0', 'x'.repeat(1000)]) {
        expect(Buffer.from(mac(input)).toString('hex'), `key ${keyBytes} B, input ${input.length}`).toBe(
          reference(key, input).toString('hex'),
        );
      }
    }
  });

  it('matches createHmac for random inputs, non-ASCII and past the scratch buffer included', () => {
    const key = new Uint8Array(randomBytes(32));
    const mac = hmacSha256(key);
    const units = ['a', '.', '_', 'é', '€', '😀', '\u0000', '\uffff'];
    for (let round = 0; round < 300; round++) {
      const length = round < 290 ? randomInt(0, 600) : randomInt(5_000, 40_000);
      let input = '';
      while (input.length < length) input += units[randomInt(units.length)];
      expect(Buffer.from(mac(input)).equals(reference(key, input)), `round ${round}`).toBe(true);
    }
  });

  it('gives the next call its own answer: no state left over from a longer input', () => {
    const mac = hmacSha256(new Uint8Array(randomBytes(32)));
    const short = Buffer.from(mac('short'));
    mac('a much longer input that fills more of the scratch buffer than the short one did'.repeat(20));
    expect(Buffer.from(mac('short')).equals(short)).toBe(true);
  });
});

describe('nodeVerify HS256', () => {
  it('accepts the right signature and refuses every one-bit change of it', async () => {
    const secret = new Uint8Array(randomBytes(32));
    const key = await nodeVerify.importKey({ kid: 'k', alg: 'HS256', k: encodeBase64url(secret) } as never);
    const input = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0';
    const signature = new Uint8Array(reference(secret, input));
    expect(nodeVerify.verify(key, input, signature)).toBe(true);
    for (let bit = 0; bit < signature.length * 8; bit++) {
      const bad = signature.slice();
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(nodeVerify.verify(key, input, bad)).toBe(false);
    }
    expect(nodeVerify.verify(key, input, signature.subarray(0, 31))).toBe(false);
    expect(nodeVerify.verify(key, `${input}x`, signature)).toBe(false);
  });
});
