/** HS256 tokens signed by hand with node:crypto, the way any service holding the secret would sign them. */
import { createHmac, randomBytes } from 'node:crypto';

const segment = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs with the UTF-8 bytes of `secret` (SPEC section 5); `kid` omitted when undefined. */
export function signToken(secret: string, kid: string | undefined, claims: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = kid === undefined ? { alg: 'HS256', typ: 'JWT' } : { alg: 'HS256', typ: 'JWT', kid };
  const signingInput = `${segment(header)}.${segment({ sub: 'e2e', iat: now, exp: now + 3600, ...claims })}`;
  const signature = createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(signingInput)
    .digest('base64url');
  return `${signingInput}.${signature}`;
}

/** A secret as the deployment guide makes them (`openssl rand -base64 48`), used as text. */
export function newSecret(): string {
  return randomBytes(48).toString('base64');
}

/** A KEYSET_KEY: base64url of 32 random bytes. */
export function newKeysetKey(): string {
  return randomBytes(32).toString('base64url');
}
