/**
 * GET /keyset as the control plane answers it (control-plane/src/http-server.ts): the envelope with an ETag that
 * is the SHA-256 of its bytes, 304 to a matching If-None-Match; handed to an edge as its fetch. For the workerd
 * tests, where the control plane (Node, Valkey, gRPC) cannot run; the Node tests and test/e2e pull from the real
 * one. It records every request and can hold its answers back (an origin that hangs). GET /revocations (the path
 * beside the keyset's) answers `revocations` when its serial is above `since`, else 304, and is recorded apart.
 */
export interface OriginRequest {
  url: string;
  ifNoneMatch: string | undefined;
  status?: number;
}

export class KeysetOrigin {
  /** What GET answers: the envelope, or 404 while there is none. */
  envelope: string | undefined;
  readonly requests: OriginRequest[] = [];
  /** What GET /revocations serves: a signed list and its serial; 304 to every `since` while undefined. */
  revocations: { serial: number; document: string } | undefined;
  /** The URLs of the GET /revocations requests, `since` included. */
  readonly revocationRequests: string[] = [];
  #hanging = false;
  readonly #held = new Set<() => void>();

  constructor(envelope?: string) {
    this.envelope = envelope;
  }

  /** The edge's fetch. */
  readonly fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.pathname.endsWith('/revocations')) {
      this.revocationRequests.push(request.url);
      const since = Number(url.searchParams.get('since'));
      const served = this.revocations;
      if (served === undefined || served.serial <= since) return new Response(null, { status: 304 });
      return new Response(served.document, { headers: { 'content-type': 'application/jose' } });
    }
    const seen: OriginRequest = {
      url: request.url,
      ifNoneMatch: request.headers.get('if-none-match') ?? undefined,
    };
    this.requests.push(seen);
    if (this.#hanging) {
      await new Promise<void>((resolve) => {
        const release = () => {
          this.#held.delete(release);
          resolve();
        };
        this.#held.add(release);
        // An edge that gives up aborts; the answer is then never read.
        request.signal.addEventListener('abort', release);
      });
      request.signal.throwIfAborted();
    }
    const response = await this.#answer(seen.ifNoneMatch);
    seen.status = response.status;
    return response;
  };

  /** Requests answered 304 so far. */
  get notModified(): number {
    return this.requests.filter((request) => request.status === 304).length;
  }

  /** From now on, requests get no answer until `release`. */
  hang(): void {
    this.#hanging = true;
  }

  /** Answers every held request with what the origin serves now, and stops holding new ones. */
  release(): void {
    this.#hanging = false;
    for (const release of [...this.#held]) release();
  }

  /** Requests waiting for an answer. */
  get pending(): number {
    return this.#held.size;
  }

  async #answer(ifNoneMatch: string | undefined): Promise<Response> {
    if (this.envelope === undefined) return Response.json({ error: 'no envelope' }, { status: 404 });
    const etag = await sha256Etag(this.envelope);
    const headers = { etag, 'cache-control': 'no-cache' };
    if (ifNoneMatch === etag) return new Response(null, { status: 304, headers });
    return new Response(this.envelope, {
      status: 200,
      headers: { ...headers, 'content-type': 'application/jose' },
    });
  }
}

/** The control plane's ETag of an envelope. */
export async function sha256Etag(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return `"${btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}"`;
}
