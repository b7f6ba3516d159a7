/**
 * The Node entry's request listener: GET and POST /verify go straight from node:http to the edge's
 * VerifyProtocol, PUT /keyset to its KeysetPushProtocol and PUT /revocations to its RevocationsPushProtocol (the
 * ones the Hono routes call too), skipping the web Request/Response round trip @hono/node-server makes; every
 * other request goes to the Hono app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { fromUtf8 } from '../../../shared/base64url.ts';
import { bearerToken } from '../../../shared/bearer-token.ts';
import type { Edge } from '../create-edge.ts';
import { EdgeError } from '../errors.ts';
import type { KeysetPushRequest, PushAnswer } from '../http/keyset-push.ts';
import type { BodyReader, VerifyAnswer } from '../http/verify-protocol.ts';

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void;

// The process outlives the response; a pull never rejects (KeysetSync reports failures itself).
const runOn = (task: Promise<unknown>) => void task;
// GET never reads a body: one reader for all of them instead of a closure per request.
const noBody = () => '';

export function createNodeListener(edge: Edge): NodeListener {
  const viaHono = getRequestListener((request) => edge.fetch(request));

  // The first verdict of a turn of the event loop is written at once; the others reached in the same turn wait
  // until its reads are done (setImmediate runs after the poll phase) and are written together. Under load (50
  // connections) that costs a fifth to a third less CPU per request than a socket write after every verdict,
  // most likely because the verifies and the writes then each run back to back, their code and data still in
  // the caches; a lone request waits for nothing, and costs one setImmediate more.
  let waiting: [ServerResponse, VerifyAnswer][] | undefined;
  const sendWaiting = () => {
    const answers = waiting as [ServerResponse, VerifyAnswer][];
    waiting = undefined;
    for (const [response, answer] of answers) sendOrDrop(response, answer);
  };

  const answer = (
    response: ServerResponse,
    method: 'GET' | 'POST',
    authorization: string | undefined,
    readBody: BodyReader,
  ) => {
    // edge.verify never throws nor rejects.
    const answer = edge.verify({ method, authorization, readBody, background: runOn });
    if (answer instanceof Promise) {
      answer.then((settled) => send(response, settled)).catch(() => response.destroy());
    } else if (waiting !== undefined) {
      waiting.push([response, answer]);
    } else {
      waiting = [];
      setImmediate(sendWaiting);
      sendOrDrop(response, answer);
    }
  };

  // A push: the protocol reads the body with its own limit (the read starts in this turn), then opens and takes it.
  const push = (
    request: IncomingMessage,
    response: ServerResponse,
    protocol: (request: KeysetPushRequest) => Promise<PushAnswer>,
  ) => {
    const { contentLength } = headersOf(request);
    const readBody = (maxBytes: number) => readIncomingText(request, maxBytes, contentLength);
    protocol({ readBody, background: runOn, logAfterAnswer: true }).then((settled) => {
      sendOrDrop(response, settled);
      // The log lines once the answer is written: the pusher does not wait for them.
      for (const line of settled.logLines ?? []) edge.log(line);
    });
  };

  return (request, response) => {
    const { method, url } = request;
    if ((method === 'GET' || method === 'POST') && (url === '/verify' || url?.startsWith('/verify?'))) {
      const { authorization, contentLength } = headersOf(request);
      if (method === 'POST' && bearerToken(authorization) === undefined) {
        // The body holds the token: read ahead with callbacks, as a bare node:http server would, then verified
        // with no promise in between (the reader replays what the read gave, a too-large body included).
        readIncoming(request, edge.verifyBodyLimit, contentLength, (read) =>
          answer(response, method, authorization, read),
        );
        return;
      }
      answer(response, method, authorization, noBody);
      return;
    }
    if (method === 'PUT' && (url === '/keyset' || url?.startsWith('/keyset?'))) {
      push(request, response, edge.pushKeyset);
      return;
    }
    if (method === 'PUT' && (url === '/revocations' || url?.startsWith('/revocations?'))) {
      push(request, response, edge.pushRevocations);
      return;
    }
    void viaHono(request, response);
  };
}

/** Writes the answer; a write that throws is a connection gone bad, and is closed. */
function sendOrDrop(response: ServerResponse, answer: VerifyAnswer | PushAnswer): void {
  try {
    send(response, answer);
  } catch {
    response.destroy();
  }
}

/**
 * Writes the answer with its headers as one flat array (no object for node:http to walk) and Content-Length set
 * (no chunked encoding). A client that went away mid-body gets no answer.
 */
function send(response: ServerResponse, answer: VerifyAnswer | PushAnswer): void {
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
 * Reads the body, refusing more than `maxBytes` without buffering the excess (a declared length over the limit is
 * refused before reading, a stream that outgrows it is stopped and drained), then calls `done` once with a reader
 * that gives the body as UTF-8 text (undefined if it is not UTF-8) or throws what the read met (EdgeError
 * `body_too_large`, or the stream's error).
 */
export function readIncoming(
  request: IncomingMessage,
  maxBytes: number,
  declared: string | undefined,
  done: (read: () => string | undefined) => void,
): void {
  const fail = (error: unknown) => () => {
    throw error;
  };
  const tooLarge = () => new EdgeError('body_too_large', `body larger than ${maxBytes} bytes`);
  if (declared !== undefined && Number(declared) > maxBytes) {
    request.resume();
    done(fail(tooLarge()));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (read: () => string | undefined) => {
    if (settled) return;
    settled = true;
    done(read);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.byteLength;
    if (size > maxBytes) {
      request.off('data', onData);
      // Drain what is left so the connection can carry the answer.
      request.resume();
      settle(fail(tooLarge()));
      return;
    }
    chunks.push(chunk);
  };
  request.on('data', onData);
  request.on('error', (error) => settle(fail(error)));
  request.on('end', () => {
    const text = fromUtf8(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    settle(() => text);
  });
}

/** readIncoming as a promise of the text; `declared` is the request's Content-Length (headersOf), if any. */
export function readIncomingText(
  request: IncomingMessage,
  maxBytes: number,
  declared: string | undefined,
): Promise<string | undefined> {
  return new Promise((resolve, reject) =>
    readIncoming(request, maxBytes, declared, (read) => {
      try {
        resolve(read());
      } catch (error) {
        reject(error);
      }
    }),
  );
}
