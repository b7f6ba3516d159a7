/**
 * The fastest /verify a plain node:http server gives: no framework, Authorization found in rawHeaders (Node's
 * `headers` object is built on first read), headers as a flat array (no object to walk), Content-Length set (no
 * chunked encoding), the body read with 'data' and 'end' only, the answers after the first of an event-loop turn
 * written together once its reads are done; without verifying (the HTTP floor on Node) or
 * with the raw verify (bare-answer.ts). Env: PORT (0 for any), BENCH_ANSWER or BENCH_KEYS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { answererOf, type BareAnswer, bearerOf, tokenOfBody } from './bare-answer.ts';

const answerOf = answererOf((name) => process.env[name]);

// As the edge's listener writes (edge/src/runtime/node-listener.ts): the first answer of an event-loop turn at
// once, the others of that turn together once its reads are done, which costs less CPU per request under load.
let waiting: [ServerResponse, BareAnswer, boolean][] | undefined;

function sendWaiting(): void {
  const answers = waiting as [ServerResponse, BareAnswer, boolean][];
  waiting = undefined;
  for (const [response, answer, forwardAuth] of answers) write(response, answer, forwardAuth);
}

function send(response: ServerResponse, answer: BareAnswer, forwardAuth: boolean): void {
  if (waiting !== undefined) {
    waiting.push([response, answer, forwardAuth]);
    return;
  }
  waiting = [];
  setImmediate(sendWaiting);
  write(response, answer, forwardAuth);
}

function write(response: ServerResponse, answer: BareAnswer, forwardAuth: boolean): void {
  const headers = [
    'content-type',
    'application/json',
    'cache-control',
    'no-store',
    'content-length',
    String(Buffer.byteLength(answer.body)),
  ];
  if (forwardAuth && answer.kid !== undefined) {
    headers.push('x-auth-kid', answer.kid);
    if (answer.sub !== undefined) headers.push('x-auth-subject', answer.sub);
  }
  response.writeHead(answer.status, headers);
  response.end(answer.body);
}

function authorizationOf(request: IncomingMessage): string | undefined {
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') return raw[i + 1];
  }
  return undefined;
}

function readBody(request: IncomingMessage, then: (text: string) => void): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () =>
    then((chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString()),
  );
}

const server = createServer((request, response) => {
  if (request.url !== '/verify' || (request.method !== 'GET' && request.method !== 'POST')) {
    response.writeHead(404, ['content-length', '0']).end();
    return;
  }
  const bearer = bearerOf(authorizationOf(request));
  if (request.method === 'GET') send(response, answerOf(bearer), true);
  else if (bearer !== undefined) send(response, answerOf(bearer), false);
  else readBody(request, (text) => send(response, answerOf(tokenOfBody(text)), false));
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`bare node:http listening on port ${typeof address === 'object' ? address?.port : ''}`);
});
