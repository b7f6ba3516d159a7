/** Secrets the control plane makes itself: 48 random bytes, base64. */
import { randomBytes } from 'node:crypto';

export function generateSecret(): string {
  return randomBytes(48).toString('base64');
}
