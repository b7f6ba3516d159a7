/** Pulls the envelope from the control plane's keyset endpoint (KEYSET_URL), revalidating with its ETag. */
import { MAX_ENVELOPE_BYTES } from '../../../../shared/keyset-envelope.ts';
import { EdgeError } from '../../errors.ts';
import { readBodyText } from '../../http/read-body.ts';
import type { KeysetSource } from './keyset-source.ts';
import { PULL_TIMEOUT_MS } from './keyset-source.ts';
import { refuseRedirect } from './refuse-redirect.ts';

export class UrlKeysetSource implements KeysetSource {
  readonly name = 'KEYSET_URL';
  readonly #url: string;
  readonly #fetch: typeof fetch;
  #etag: string | undefined;

  constructor(url: string, fetchImpl: typeof fetch) {
    this.#url = url;
    this.#fetch = fetchImpl;
  }

  async pull(): Promise<string | undefined> {
    const headers: Record<string, string> = { accept: 'application/jose' };
    if (this.#etag !== undefined) headers['if-none-match'] = this.#etag;
    const response = await this.#fetch(this.#url, {
      headers,
      signal: AbortSignal.timeout(PULL_TIMEOUT_MS),
      // Only KEYSET_URL speaks for the control plane: an answer from wherever a redirect points confirms nothing.
      redirect: 'manual',
    });
    await refuseRedirect(response, this.name);
    if (response.status === 304) {
      await response.body?.cancel();
      return undefined;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new EdgeError('pull_failed', `KEYSET_URL answered ${response.status}`);
    }
    const body = await readBodyText(response, MAX_ENVELOPE_BYTES);
    if (body === undefined)
      throw new EdgeError('pull_failed', 'KEYSET_URL answered a body that is not UTF-8');
    this.#etag = response.headers.get('etag') ?? undefined;
    return body;
  }

  forget(): void {
    this.#etag = undefined;
  }
}
