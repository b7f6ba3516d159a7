/** The `kid` of a JWS compact token's header, without verifying anything; undefined when absent or bad. */
import { decodeBase64urlText } from '../../shared/base64url.ts';

export function tokenKid(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot < 0) return undefined;
  const text = decodeBase64urlText(token.slice(0, dot));
  if (text === undefined) return undefined;
  try {
    const header: unknown = JSON.parse(text);
    const kid = (header as { kid?: unknown } | null)?.kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}
