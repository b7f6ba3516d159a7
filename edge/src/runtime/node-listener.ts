/**
 * The Node entry's request listener: GET and POST /verify go straight from node:http to the edge's
 * VerifyProtocol (the one the Hono route calls too), skipping the web Request/Response round trip
 * @hono/node-server makes; every other request goes to the Hono app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { fromUtf8 } from '../../../shared/base64url.ts';
import type { Edge } from '../create-edge.ts';
import { EdgeError } from '../errors.ts';
import type { VerifyAnswer } from '../http/verify-protocol.ts';

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void;

// The process outlives the response; a pull never rejects (KeysetSync reports failures itself).
const runOn = (task: Promise<unknown>) => void task;
// GET never reads a body: one reader for all of them instead of a closure per request.
const noBody = () => Promise.resolve('');

export function createNodeListener(edge: Edge): NodeListener {
  const viaHono = getRequestListener((request) => edge.fetch(request));

  return (request, response) => {
    const { method, url } = request;
    if ((method === 'GET' || method === 'POST') && (url === '/verify' || url?.startsWith('/verify?'))) {
      const { authorization, contentLength } = headersOf(request);
      // edge.verify never throws nor rejects; a write that throws is a connection gone bad.
      const answer = edge.verify({
        method,
        authorization,
        readBody: method === 'GET' ? noBody : (max) => readIncomingText(request, max, contentLength),
        background: runOn,
      });
      if (answer instanceof Promise) {
        answer.then((settled) => send(response, settled)).catch(() => response.destroy());
        return;
      }
      try {
        send(response, answer);
      } catch {
        response.destroy();
      }
      return;
    }
    void viaHono(request, response);
  };
}

/**
 * Writes the answer with its headers as one flat array (no object for node:http to walk) and Content-Length set
 * (no chunked encoding). A client that went away mid-body gets no answer.
 */
function send(response: ServerResponse, answer: VerifyAnswer): void {
  if (response.destroyed) return;
  const headers: string[] = [];
  for (const name in answer.headers) headers.push(name, answer.headers[name] as string);
  headers.push('content-length', String(Buffer.byteLength(answer.body)));
  response.writeHead(answer.status, headers);
  response.end(answer.body);
}

/**
 * Every Authorization header, joined as the web Headers does (Node's `headers` keeps only the first), so a second
 * one appended on the way makes the request ambiguous here too instead of silently ignored; and the first
 * Content-Length, as `headers` has it (llhttp refuses a request whose lengths differ). One scan of rawHeaders
 * costs less than `headers` or `headersDistinct`, which build an object of every header on first read.
 */
function headersOf(request: IncomingMessage): {
  authorization: string | undefined;
  contentLength: string | undefined;
} {
  const raw = request.rawHeaders;
  let authorization: string | undefined;
  let contentLength: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      const one = raw[i + 1] as string;
      authorization = authorization === undefined ? one : `${authorization}, ${one}`;
    } else if (name.length === 14 && contentLength === undefined && name.toLowerCase() === 'content-length') {
      contentLength = raw[i + 1] as string;
    }
  }
  return { authorization, contentLength };
}

/**
 * The body as UTF-8 text (undefined if it is not UTF-8), refusing more than `maxBytes` without buffering the
 * excess: a declared length over the limit is refused before reading, a stream that outgrows it is stopped.
 */
export function readIncomingText(
  request: IncomingMessage,
  maxBytes: number,
  declared: string | undefined = request.headers['content-length'],
): Promise<string | undefined> {
  const tooLarge = () => new EdgeError('body_too_large', `body larger than ${maxBytes} bytes`);
  if (declared !== undefined && Number(declared) > maxBytes) {
    request.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        request.off('data', onData);
        // Drain what is left so the connection can carry the answer.
        request.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('error', reject);
    request.once('end', () => {
      if (size <= maxBytes)
        resolve(fromUtf8(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    });
  });
}
