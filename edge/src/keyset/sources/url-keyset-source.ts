/** Pulls the envelope from the control plane's keyset endpoint (KEYSET_URL), revalidating with its ETag. */
import { encodeBase64url } from '../../../../shared/base64url.ts';
import { MAX_ENVELOPE_BYTES } from '../../../../shared/keyset-envelope.ts';
import { EdgeError } from '../../errors.ts';
import { readBodyText } from '../../http/read-body.ts';
import type { KeysetSource, ValidatedEnvelope } from './keyset-source.ts';
import { PULL_TIMEOUT_MS } from './keyset-source.ts';
import { refuseRedirect } from './refuse-redirect.ts';

export class UrlKeysetSource implements KeysetSource {
  readonly name = 'KEYSET_URL';
  readonly #url: string;
  readonly #fetch: typeof fetch;
  /** The last envelope served with an ETag: what a 304 to If-None-Match with that ETag stands for. */
  #validated: Required<ValidatedEnvelope> | undefined;

  constructor(url: string, fetchImpl: typeof fetch) {
    this.#url = url;
    this.#fetch = fetchImpl;
  }

  get validated(): ValidatedEnvelope | undefined {
    return this.#validated;
  }

  async pull(): Promise<string | undefined> {
    const headers: Record<string, string> = { accept: 'application/jose' };
    if (this.#validated !== undefined) headers['if-none-match'] = this.#validated.etag;
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
    const etag = response.headers.get('etag') ?? undefined;
    this.#validated = etag === undefined ? undefined : { envelope: body, etag };
    return body;
  }

  /**
   * The control plane's ETag is the SHA-256 of the envelope (control-plane/src/http-server.ts, envelopeEtag), so an
   * ETag copied from elsewhere is checked against the envelope before a 304 may vouch for it. An origin with
   * other ETags is simply asked without If-None-Match until it answers this isolate itself.
   */
  async adopt(validated: ValidatedEnvelope): Promise<void> {
    const { envelope, etag } = validated;
    if (etag !== undefined && etag === (await envelopeEtag(envelope))) this.#validated = { envelope, etag };
  }

  forget(): void {
    this.#validated = undefined;
  }
}

/** `"` + base64url(SHA-256(envelope)) + `"`, as the control plane's GET /keyset sets it. */
export async function envelopeEtag(envelope: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(envelope));
  return `"${encodeBase64url(new Uint8Array(digest))}"`;
}
