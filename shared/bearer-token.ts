/**
 * `Authorization: Bearer ...` read one way everywhere: the scheme in any case, then one or more spaces
 * (RFC 7235 section 2.1), whitespace around the whole value ignored.
 */

const BEARER = /^Bearer +(.+)$/i;

/** Everything after the scheme, or undefined for another scheme or nothing after it (the admin token). */
export function bearerCredentials(authorization: string | undefined | null): string | undefined {
  if (authorization == null) return undefined;
  return BEARER.exec(authorization.trim())?.[1];
}

/** The credentials when they are one token with no whitespace inside, as RFC 6750 section 2.1 has it (a JWT). */
export function bearerToken(authorization: string | undefined | null): string | undefined {
  const credentials = bearerCredentials(authorization);
  return credentials === undefined || /\s/.test(credentials) ? undefined : credentials;
}
