/**
 * What a suite must never let out (the admin token, every token it tried, every secret it sent) and the
 * check of a text for any of it. A failure names where, never what was found.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';

/** A run of base64 or base64url characters: every needle is one, so a leak lies inside one run. */
const RUN = /[A-Za-z0-9+/=_-]{16,}/g;
const WHOLE_RUN = /^[A-Za-z0-9+/=_-]{16,}$/;

export class SecrecyLedger {
  readonly #needles = new Set<string>();

  /** Any 16 characters of the admin token would be a leak. */
  constructor(adminToken: string) {
    for (let i = 0; i + 16 <= adminToken.length; i++) this.#needles.add(adminToken.slice(i, i + 16));
  }

  /** Records a secret sent; `randomPart` is the part of it no other text holds by chance. */
  secret(secret: string, randomPart?: string): string {
    if (randomPart) this.#needles.add(randomPart);
    if (WHOLE_RUN.test(secret)) this.#needles.add(secret.slice(0, 64));
    this.#needles.add(encodeBase64url(utf8(secret)).slice(0, 64));
    return secret;
  }

  /** A fresh secret, `<prefix>-<40 random base64 characters>`, recorded. */
  newSecret(prefix: string): string {
    const random = randomBytes(30).toString('base64');
    return this.secret(`${prefix}-${random}`, random);
  }

  /** Records a token tried: a near miss leaks as much as the token itself. */
  tokenCandidate(token: string): string {
    if (WHOLE_RUN.test(token)) this.#needles.add(token.slice(0, 64));
    return token;
  }

  /** `text` (a log, a status message, a metrics page) holds nothing recorded. */
  expectNoneIn(where: string, text: string): void {
    // Comparing against the distinct runs is as thorough as scanning the whole text, and much faster.
    const runs = [...new Set(text.match(RUN) ?? [])];
    for (const needle of this.#needles) {
      expect(
        runs.some((run) => run.includes(needle)),
        `${where} holds the token, a token tried or a secret`,
      ).toBe(false);
    }
  }
}
