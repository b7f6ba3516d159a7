/**
 * The HTTP lower bound on Node: bare node:http, the raw node:crypto verify, the same /verify answers as the
 * edge. Env: PORT (0 for any), BENCH_KEYS (JSON RawKeySpec[]: HS256 secrets {kid, secret} or public JWKs
 * {kid, alg, jwk}; newest first).
 */
import { createServer } from 'node:http';
import { createRawNodeVerifier, type RawKeySpec, type RawResult } from '../support/raw-node-verify.ts';

const verify = createRawNodeVerifier(JSON.parse(process.env.BENCH_KEYS ?? '[]') as RawKeySpec[]);
const BEARER = /^Bearer +(\S+) *$/i;

function answer(response: import('node:http').ServerResponse, result: RawResult, headers = {}) {
  const body = result.valid
    ? { valid: true, kid: result.kid, claims: result.claims }
    : { error: result.error };
  response.writeHead(result.valid ? 200 : 401, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(JSON.stringify(body));
}

const server = createServer((request, response) => {
  if (request.url !== '/verify') {
    response.writeHead(404).end();
    return;
  }
  const bearer = BEARER.exec(request.headers.authorization ?? '')?.[1];
  if (request.method === 'GET') {
    const result = verify(bearer ?? '');
    const sub = result.valid ? result.claims.sub : undefined;
    answer(response, result, result.valid ? { 'x-auth-kid': result.kid, 'x-auth-subject': String(sub) } : {});
    return;
  }
  if (bearer !== undefined) {
    answer(response, verify(bearer));
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let token = '';
    try {
      token = String(JSON.parse(Buffer.concat(chunks).toString()).token ?? '');
    } catch {
      // Falls through as a malformed (empty) token.
    }
    answer(response, verify(token));
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`bare node:http verify listening on port ${typeof address === 'object' ? address?.port : ''}`);
});
