/** The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1), or undefined. */
export function bearerToken(authorization: string | undefined | null): string | undefined {
  if (authorization == null) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(authorization.trim());
  return match?.[1];
}
