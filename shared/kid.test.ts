import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeKid, computeKidWith } from './kid.ts';
import { nodeEnvelopeCrypto } from './runtime/node-envelope.ts';

describe('computeKidWith (a synchronous SHA-256)', () => {
  it('gives the kid computeKid gives, for ASCII, non-ASCII and random secrets', async () => {
    const secrets = [
      'a-secret-of-forty-bytes-or-more-0123456789abcdef',
      'ünïcødé-sécret-with-quotes-"and"-backslashes-\\-0123456789',
      ...Array.from({ length: 20 }, () => randomBytes(48).toString('base64')),
    ];
    for (const secret of secrets) {
      expect(computeKidWith(secret, nodeEnvelopeCrypto.sha256)).toBe(await computeKid(secret));
    }
  });
});
