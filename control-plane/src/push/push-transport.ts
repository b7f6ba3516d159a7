/**
 * How the control plane sends a request to an edge: node:http(s) with keep-alive agents, so the next push to the
 * same edge reuses the connection (no TCP or TLS handshake) while the edge keeps it open. Node's agent honours
 * the edge's `Keep-Alive: timeout=N` hint (it lets an idle connection go a second before the edge would), and a
 * request that finds a reused connection reset (the edge closed it as the request left) is sent once more on a
 * fresh one. Redirects are never followed: a 3xx is reported as such (`redirect`), for the caller to refuse.
 *
 * Shared by every push path (PUT /keyset, and any other path that sends small bodies to every edge): one
 * transport per control plane, closed at stop.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface PushRequest {
  method: 'PUT' | 'POST' | 'DELETE';
  url: URL;
  /** Content-Type and the like; Content-Length is set from `body`. */
  headers?: Record<string, string>;
  body: string;
  /** Deadline for the whole exchange, from sending until the answer's body has arrived. */
  timeoutMs: number;
}

export interface PushAnswer {
  status: number;
  /** A 3xx but 304 (or a browser-style fetch's opaque redirect): the edge did not answer itself. */
  redirect: boolean;
  /** The body parsed as JSON; undefined when empty, not JSON, or over the transport's size limit. */
  json: unknown;
}

/**
 * Sends one request; rejects with an error named `TimeoutError` when the deadline passes first, any other error
 * when the edge cannot be reached or the connection breaks.
 */
export interface PushTransport {
  send(request: PushRequest): Promise<PushAnswer>;
  /** Closes idle connections and stops keeping new ones; requests in flight are cut. */
  close(): void;
}

/** Answers larger than this are read to the end (to keep the connection) but not parsed. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** The node:http(s) keep-alive transport (see the file's comment). */
export function createPushTransport(): PushTransport {
  // LIFO: the connection used last is the one most likely still open at the edge.
  const agents = {
    http: new HttpAgent({ keepAlive: true, scheduling: 'lifo' }),
    https: new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }),
  };
  return {
    send(request) {
      return sendOnce(request, agents, true);
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function sendOnce(
  request: PushRequest,
  agents: { http: HttpAgent; https: HttpsAgent },
  mayResend: boolean,
): Promise<PushAnswer> {
  return new Promise((resolve, reject) => {
    const { url, body, timeoutMs } = request;
    const https = url.protocol === 'https:';
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const client = (https ? httpsRequest : httpRequest)(
      url,
      {
        method: request.method,
        agent: https ? agents.https : agents.http,
        headers: { ...request.headers, 'content-length': Buffer.byteLength(body) },
      },
      (response) => readAnswer(response, (answer) => settle(() => resolve(answer)), fail),
    );
    function fail(error: Error) {
      const code = (error as NodeJS.ErrnoException).code;
      // The edge closed an idle connection just as this request took it: nothing reached the edge's handler.
      if (mayResend && client.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
        settle(() => resolve(sendOnce(request, agents, false)));
      } else {
        settle(() => reject(error));
      }
    }
    const timer = setTimeout(() => {
      const error = new Error(`no answer within ${timeoutMs} ms`);
      error.name = 'TimeoutError';
      settle(() => reject(error));
      client.destroy();
    }, timeoutMs);
    client.on('error', fail);
    client.end(body);
  });
}

function readAnswer(
  response: IncomingMessage,
  done: (answer: PushAnswer) => void,
  fail: (error: Error) => void,
): void {
  const status = response.statusCode ?? 0;
  const chunks: Buffer[] = [];
  let size = 0;
  response.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
  });
  response.on('end', () => {
    done({
      status,
      redirect: status >= 300 && status < 400 && status !== 304,
      json: size <= MAX_ANSWER_BYTES ? parseJson(Buffer.concat(chunks).toString('utf8')) : undefined,
    });
  });
  response.on('error', fail);
  // A connection cut mid-body ends neither with 'end' nor always with 'error'.
  response.on('close', () => {
    if (!response.complete) fail(new Error('connection closed before the answer was complete'));
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The same over a WHATWG `fetch` (a caller's own, e.g. for a proxy-aware client): `redirect: 'manual'`, the
 * deadline as an AbortSignal covering the body too.
 */
export function fetchTransport(fetchImpl: typeof fetch): PushTransport {
  return {
    async send(request) {
      const response = await fetchImpl(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(request.timeoutMs),
        redirect: 'manual',
      });
      const redirect =
        response.type === 'opaqueredirect' ||
        (response.status >= 300 && response.status < 400 && response.status !== 304);
      if (redirect) {
        await response.body?.cancel();
        return { status: response.status, redirect, json: undefined };
      }
      // A body that never arrives is a timeout, not an answer: the status alone vouches for nothing.
      const json = await response.json().catch((cause: Error) => {
        if (cause.name === 'TimeoutError' || cause.name === 'AbortError') throw cause;
        return undefined;
      });
      return { status: response.status, redirect, json };
    },
    close() {},
  };
}
