/**
 * The Node entry's request listener: GET and POST /verify are answered straight from node:http, through the
 * same VerifyAnswers the Hono app uses (so both speak one protocol), skipping the web Request/Response
 * round trip @hono/node-server makes; every other request goes to the Hono app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { fromUtf8 } from '../../../shared/base64url.ts';
import type { Edge } from '../create-edge.ts';
import { EdgeError } from '../errors.ts';
import { INTERNAL_ERROR } from '../http-errors.ts';
import type { VerifyAnswer } from '../verify-answers.ts';

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void;

export function createNodeListener(edge: Edge, log: (message: string) => void): NodeListener {
  const viaHono = getRequestListener((request) => edge.fetch(request));
  const runInBackground = (task: Promise<unknown>) => {
    // The process outlives the response; the task never rejects (KeysetSync reports failures itself).
    void task;
  };

  const answerVerify = async (request: IncomingMessage, response: ServerResponse) => {
    try {
      await edge.sync.beforeRequest(runInBackground);
      const authorization = authorizationOf(request);
      const answer =
        request.method === 'GET'
          ? await edge.answers.get(authorization)
          : await edge.answers.post(authorization, (max) => readIncomingText(request, max));
      send(response, answer);
    } catch (error) {
      // A client that went away mid-body is not an error of ours.
      if (request.destroyed && response.destroyed) return;
      log(`edge: unexpected error: ${error instanceof Error ? error.name : typeof error}`);
      if (!response.headersSent)
        send(response, { ...INTERNAL_ERROR, headers: { 'cache-control': 'no-store' } });
      else response.destroy();
    }
  };

  return (request, response) => {
    const { method, url } = request;
    if ((method === 'GET' || method === 'POST') && (url === '/verify' || url?.startsWith('/verify?'))) {
      void answerVerify(request, response);
      return;
    }
    void viaHono(request, response);
  };
}

/**
 * Every Authorization header, joined as the web Headers does (Node's `headers` keeps only the first), so a second
 * one appended on the way makes the request ambiguous here too instead of silently ignored. A scan of rawHeaders
 * costs less than `headersDistinct`, which builds an object of arrays for every header.
 */
function authorizationOf(request: IncomingMessage): string | undefined {
  const raw = request.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      const one = raw[i + 1] as string;
      value = value === undefined ? one : `${value}, ${one}`;
    }
  }
  return value;
}

function send(
  response: ServerResponse,
  answer: Pick<VerifyAnswer, 'status' | 'headers'> & { body: unknown },
) {
  const body = JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...answer.headers,
  });
  response.end(body);
}

/**
 * The body as UTF-8 text (undefined if it is not UTF-8), refusing more than `maxBytes` without buffering the
 * excess: a declared length over the limit is refused before reading, a stream that outgrows it is stopped.
 */
export function readIncomingText(request: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  const tooLarge = () => new EdgeError('body_too_large', `body larger than ${maxBytes} bytes`);
  const declared = request.headers['content-length'];
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
