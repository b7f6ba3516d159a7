/**
 * The fastest /verify a plain node:http server gives: no framework, Authorization found in rawHeaders (Node's
 * `headers` object is built on first read), headers as a flat array (no object to walk), Content-Length set (no
 * chunked encoding), the body read with 'data' and 'end' only. Without BENCH_KEYS it does
 * not verify (bare-answer.ts: the HTTP floor on Node); with them it runs the raw node:crypto verify
 * (bench/support/raw-node-verify.ts), the sum of that floor and the in-process lower bound served as one.
 * Env: PORT (0 for any); BENCH_ANSWER (JSON {kid, claims}) or BENCH_KEYS (JSON RawKeySpec[], newest first).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRawNodeVerifier, type RawKeySpec, type RawResult } from '../support/raw-node-verify.ts';
import { type BareAnswerSpec, bareAnswer, bearerOf, tokenOfBody } from './bare-answer.ts';

const keys = process.env.BENCH_KEYS;
const spec = JSON.parse(process.env.BENCH_ANSWER ?? '{}') as BareAnswerSpec;
const verify = keys === undefined ? undefined : createRawNodeVerifier(JSON.parse(keys) as RawKeySpec[]);

interface Answer {
  status: number;
  body: string;
  kid?: string;
  sub?: string;
}

function answerOf(token: string | undefined): Answer {
  if (verify === undefined) {
    const answer = bareAnswer(spec, token);
    const sub = spec.claims.sub;
    return answer.status === 200 ? { ...answer, kid: spec.kid, sub: sub as string } : answer;
  }
  const result: RawResult = verify(token ?? '');
  if (!result.valid) return { status: 401, body: JSON.stringify({ error: result.error }) };
  const body = JSON.stringify({ valid: true, kid: result.kid, claims: result.claims });
  return { status: 200, body, kid: result.kid, sub: String(result.claims.sub) };
}

function send(response: ServerResponse, answer: Answer, forwardAuth: boolean): void {
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
