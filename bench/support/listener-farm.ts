/**
 * Many lightweight edges in one process, for the fan-out bench: `node bench/support/listener-farm.ts N` listens
 * on N loopback ports (one node:http server each) and answers PUT /keyset as an edge does (200 with its clock),
 * without opening the envelope: what the bench measures is the control plane's side of a push to N edges, and N
 * real edges (about 50 MB each as Node processes) do not fit one machine. The edge's own cost of a push is the
 * rotation case's (20 real Node edges) and the push breakdown's.
 *
 * Over the IPC channel: sends `{ urls }` once every port listens; on `{ take: true }` answers with the time
 * (timeOrigin + now, ms, comparable across processes) of each port's last answer since the previous take.
 */
import { createServer, type Server } from 'node:http';

const count = Number(process.argv[2]);
if (!Number.isInteger(count) || count < 1 || count > 10_000) {
  console.error('usage: listener-farm.ts <count from 1 to 10000>');
  process.exit(2);
}
const send = (message: unknown) => process.send?.(message);
const now = () => performance.timeOrigin + performance.now();
const answeredAt = new Float64Array(count);

function listen(index: number): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const body = JSON.stringify({ time: Date.now() });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      response.end(body);
      answeredAt[index] = now();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
  });
}

const listeners: { server: Server; url: string }[] = [];
for (let i = 0; i < count; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(count, i + 100); j++) batch.push(listen(j));
  listeners.push(...(await Promise.all(batch)));
}
process.on('message', (message: { take?: boolean }) => {
  if (!message.take) return;
  send({ answeredAt: [...answeredAt] });
  answeredAt.fill(0);
});
process.on('disconnect', () => process.exit(0));
send({ urls: listeners.map((listener) => listener.url) });
