/**
 * An HTTP hop in front of the control plane's GET /keyset that records who asked: `/<label>/keyset` is forwarded
 * to the keyset URL (If-None-Match passed on, ETag and body passed back), and counted under `label`. Each
 * simulated location gets its own label, so the origin's requests can be told apart per location.
 */
import { createServer } from 'node:http';

export interface ForwardedRequest {
  label: string;
  status: number;
  /** performance.now() when the answer went back. */
  at: number;
}

export interface CountingForwarder {
  /** The KEYSET_URL an edge under `label` is given. */
  urlFor(label: string): string;
  readonly requests: ForwardedRequest[];
  close(): Promise<void>;
}

export async function startCountingForwarder(keysetUrl: string): Promise<CountingForwarder> {
  const requests: ForwardedRequest[] = [];
  const server = createServer((request, response) => {
    const match = /^\/([\w-]+)\/keyset$/.exec(request.url ?? '');
    if (request.method !== 'GET' || match === null) {
      response.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = { accept: 'application/jose' };
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string') headers['if-none-match'] = ifNoneMatch;
    fetch(keysetUrl, { headers, signal: AbortSignal.timeout(5_000) })
      .then(async (answer) => {
        const body = Buffer.from(await answer.arrayBuffer());
        const passed: Record<string, string> = {};
        for (const name of ['etag', 'cache-control', 'content-type']) {
          const value = answer.headers.get(name);
          if (value !== null) passed[name] = value;
        }
        requests.push({ label: match[1] as string, status: answer.status, at: performance.now() });
        response.writeHead(answer.status, passed).end(body);
      })
      .catch(() => response.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    urlFor: (label) => `http://127.0.0.1:${port}/${label}/keyset`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
