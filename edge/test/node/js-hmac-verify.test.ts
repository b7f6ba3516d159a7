/**
 * The Deno entry's HS256 primitive, the HMAC in JavaScript: createHmac's verdict for keys shorter than, as long
 * as and longer than a block, for inputs of every size up to past its scratch buffer, non-ASCII included; exactly
 * the right signature accepted; keys used in turn never see each other's state; and it refuses to import any
 * other algorithm. Under the real `deno` binary, test/fuzz/alg-confusion-runtimes.test.ts holds it to Node's
 * verdicts on forged tokens.
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBase64url } from '../../../shared/base64url.ts';
import type { KeyEntry } from '../../../shared/keyset.ts';
import { jsHmacVerify } from '../../src/runtime/js-hmac-verify.ts';

const reference = (key: Uint8Array, input: string) =>
  new Uint8Array(createHmac('sha256', key).update(input).digest());
const hs256 = (secret: Uint8Array) =>
  jsHmacVerify.importKey({ kid: 'k', alg: 'HS256', k: encodeBase64url(secret) } as KeyEntry) as never;

describe('jsHmacVerify', () => {
  it('accepts createHmac’s tag for keys around the block size', () => {
    for (const keyBytes of [0, 1, 31, 32, 63, 64, 65, 100, 128, 1000]) {
      const secret = new Uint8Array(randomBytes(keyBytes));
      const key = hs256(secret);
      for (const input of ['', 'a', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0', 'x'.repeat(1000)]) {
        expect(jsHmacVerify.verify(key, input, reference(secret, input)), `key ${keyBytes} B`).toBe(true);
      }
    }
  });

  it('agrees with createHmac on random inputs, non-ASCII and past the scratch buffer included', () => {
    const secret = new Uint8Array(randomBytes(32));
    const other = new Uint8Array(randomBytes(32));
    const key = hs256(secret);
    const units = ['a', '.', '_', 'é', '€', '😀', '\u0000', '\u007f', '\u0080', '\uffff'];
    for (let round = 0; round < 300; round++) {
      const length = round < 290 ? randomInt(0, 600) : randomInt(16_000, 40_000);
      let input = '';
      while (input.length < length) input += units[randomInt(units.length)];
      expect(jsHmacVerify.verify(key, input, reference(secret, input)), `round ${round}`).toBe(true);
      expect(jsHmacVerify.verify(key, input, reference(other, input)), `round ${round}`).toBe(false);
    }
  });

  it('accepts exactly the right signature: every one-bit change, a short or long one, another input refused', () => {
    const secret = new Uint8Array(randomBytes(32));
    const key = hs256(secret);
    const input = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0';
    const signature = reference(secret, input);
    expect(jsHmacVerify.verify(key, input, signature)).toBe(true);
    for (let bit = 0; bit < signature.length * 8; bit++) {
      const bad = signature.slice();
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(jsHmacVerify.verify(key, input, bad)).toBe(false);
    }
    expect(jsHmacVerify.verify(key, input, signature.subarray(0, 31))).toBe(false);
    expect(jsHmacVerify.verify(key, input, new Uint8Array([...signature, 0]))).toBe(false);
    expect(jsHmacVerify.verify(key, input, new Uint8Array(0))).toBe(false);
    expect(jsHmacVerify.verify(key, `${input}x`, signature)).toBe(false);
    expect(jsHmacVerify.verify(key, input.slice(0, -1), signature)).toBe(false);
  });

  it('keeps each key to itself: keys used in turn, and a long input between two short ones', () => {
    const secrets = [0, 1, 2].map(() => new Uint8Array(randomBytes(32)));
    const keys = secrets.map(hs256);
    const inputs = ['short', 'y'.repeat(5_000), 'eyJhbGciOiJIUzI1NiJ9.e30', 'short'];
    for (const input of inputs) {
      for (const [i, key] of keys.entries()) {
        for (const [j, secret] of secrets.entries()) {
          expect(jsHmacVerify.verify(key, input, reference(secret, input))).toBe(i === j);
        }
      }
    }
  });

  it('imports HS256 keys only', () => {
    for (const alg of ['EdDSA', 'ES256']) {
      expect(() => jsHmacVerify.importKey({ kid: 'k', alg, x: 'AAAA' } as KeyEntry)).toThrow(
        `js-hmac verifies HS256 only, not ${alg}`,
      );
    }
  });
});
