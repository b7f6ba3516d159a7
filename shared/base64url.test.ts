import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64url, decodeBase64urlText, encodeBase64url, fromUtf8, utf8 } from './base64url.ts';

const STRICT = /^[A-Za-z0-9_-]*$/;

describe('base64url', () => {
  it('round-trips any bytes, and agrees with Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = encodeBase64url(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(decodeBase64url(text)).toEqual(bytes);
      }),
      { numRuns: 2_000 },
    );
  });

  it('encodes large inputs (a signed revocation list) like small ones, from any offset into their buffer', () => {
    const whole = new Uint8Array(300_003);
    for (let i = 0; i < whole.length; i++) whole[i] = (i * 7919 + (i >> 8)) & 255;
    for (const [start, end] of [
      [0, whole.length],
      [1, 4_097],
      [5, whole.length - 2],
      [200, 4_295],
    ] as const) {
      const bytes = whole.subarray(start, end);
      const text = encodeBase64url(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64url'));
      expect(STRICT.test(text)).toBe(true);
      expect(decodeBase64url(text)).toEqual(bytes);
    }
  });

  it('decodes exactly the canonical unpadded encodings, whatever the string', () => {
    const chars = fc.constantFrom(...'AZaz09-_+/= \t\n.$é\u00ff\u0100\u2028'.split(''), 'Q', 'w');
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: chars, maxLength: 24 }), fc.string({ maxLength: 24 })),
        (text) => {
          const decoded = decodeBase64url(text);
          const canonical = STRICT.test(text) && text.length % 4 !== 1;
          if (decoded === undefined) {
            // Refused: not base64url, or the trailing bits are not zero (another string encodes the same bytes).
            if (canonical) expect(encodeBase64url(Buffer.from(text, 'base64url'))).not.toBe(text);
          } else {
            expect(canonical).toBe(true);
            expect(encodeBase64url(decoded)).toBe(text);
          }
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('refuses every character outside the alphabet, anywhere in a segment', () => {
    const valid = encodeBase64url(new TextEncoder().encode('{"alg":"HS256"}'));
    for (let code = 0; code < 0x180; code++) {
      const char = String.fromCharCode(code);
      if (STRICT.test(char)) continue;
      for (const at of [0, 5, valid.length]) {
        const text = valid.slice(0, at) + char + valid.slice(at);
        expect(decodeBase64url(text), `U+${code.toString(16)} at ${at}`).toBeUndefined();
        expect(decodeBase64url(`${text}AA`)).toBeUndefined();
      }
    }
  });

  it('decodes UTF-8 text strictly', () => {
    expect(decodeBase64urlText(encodeBase64url(new TextEncoder().encode('{"sub":"é"}')))).toBe('{"sub":"é"}');
    expect(decodeBase64urlText(encodeBase64url(Uint8Array.of(0xc3, 0x28)))).toBeUndefined();
  });
});

describe('fromUtf8', () => {
  it('keeps a leading byte order mark: the text is exactly the bytes', () => {
    const secret = '\uFEFFsecret-with-a-bom-0123456789abcdefghijkl';
    expect(fromUtf8(utf8(secret))).toBe(secret);
  });
});
