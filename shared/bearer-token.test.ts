import { describe, expect, it } from 'vitest';
import { bearerCredentials, bearerToken } from './bearer-token.ts';

const T = 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln';

describe('bearerCredentials and bearerToken: one reading of Authorization: Bearer', () => {
  it('read the scheme in any case, after one or more spaces, ignoring whitespace around the value', () => {
    for (const value of [`Bearer ${T}`, `bearer ${T}`, `BEARER ${T}`, `Bearer    ${T}`, `  Bearer ${T}  `]) {
      expect(bearerCredentials(value), value).toBe(T);
      expect(bearerToken(value), value).toBe(T);
    }
  });

  it('read nothing for another scheme, no separator, a separator other than spaces, or nothing after it', () => {
    for (const value of [
      `Basic ${T}`,
      `Bearer${T}`,
      `Bearer\t${T}`,
      `Bearer=${T}`,
      `Bearer: ${T}`,
      `Bear ${T}`,
      T,
      'Bearer',
      'Bearer ',
      '',
      null,
      undefined,
    ]) {
      expect(bearerCredentials(value), String(value)).toBeUndefined();
      expect(bearerToken(value), String(value)).toBeUndefined();
    }
  });

  it('keep whitespace inside the credentials (an admin token may hold spaces), never inside a token', () => {
    for (const [value, credentials] of [
      [`Bearer ${T} extra`, `${T} extra`],
      [`Bearer ${T}, Bearer ${T}`, `${T}, Bearer ${T}`],
      [`Bearer \u00a0${T}`, `\u00a0${T}`],
      ['Bearer correct horse battery staple', 'correct horse battery staple'],
    ]) {
      expect(bearerCredentials(value), value).toBe(credentials);
      expect(bearerToken(value), value).toBeUndefined();
    }
  });

  it('pass any other character through unchanged: the verifier or the admin check decides', () => {
    for (const credentials of [`${T},Bearer`, `"${T}"`, `${T}=`, `,${T}`]) {
      expect(bearerToken(`Bearer ${credentials}`)).toBe(credentials);
    }
  });
});
