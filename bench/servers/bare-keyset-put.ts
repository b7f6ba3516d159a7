/**
 * The floor under one push over loopback: a plain node:http server that reads a PUT /keyset (or PUT /revocations)
 * body and answers a JSON of the edge's shape (version, kids, time, revocations) without opening or taking
 * anything. What a push
 * costs beyond this is the edge's own work. Env: PORT (0 for any).
 */
import { createServer } from 'node:http';

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const status =
      request.method === 'PUT' && (request.url === '/keyset' || request.url === '/revocations') ? 200 : 404;
    const body = JSON.stringify({ version: 1, kids: ['bare'], time: Date.now(), revocations: 0 });
    response.writeHead(status, ['content-type', 'application/json', 'content-length', String(body.length)]);
    response.end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`bare node:http listening on port ${typeof address === 'object' ? address?.port : ''}`);
});
