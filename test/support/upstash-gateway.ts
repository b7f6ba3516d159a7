/**
 * A small Upstash-REST-compatible gateway in front of a real valkey-server, so that @upstash/redis can be tested
 * on loopback: `POST /` with a JSON command array, `POST /pipeline` with an array of them, and the path style
 * `GET /get/<key>`; Bearer token auth; answers `{"result": ...}`, base64-encoded under `Upstash-Encoding: base64`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Valkey } from 'iovalkey';

export interface UpstashGateway {
  url: string;
  port: number;
  /** Number of requests served (commands or pipelines), for tests that count pulls. */
  readonly requests: number;
  close(): Promise<void>;
}

export interface UpstashGatewayOptions {
  valkeyPort: number;
  token: string;
  /** 0 (default) lets the OS pick. */
  port?: number;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startUpstashGateway(options: UpstashGatewayOptions): Promise<UpstashGateway> {
  const valkey = new Valkey({ host: '127.0.0.1', port: options.valkeyPort, maxRetriesPerRequest: 1 });
  // Connection errors surface per command as `{"error": ...}`; the event itself needs no handling.
  valkey.on('error', () => {});
  let requests = 0;

  const run = async (command: unknown, base64: boolean) => {
    if (!Array.isArray(command) || command.length === 0) return { error: 'ERR expected a command array' };
    try {
      const [name, ...args] = command.map((part) => String(part));
      const result = await valkey.call(name as string, ...args);
      return { result: base64 ? encode(result) : result };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    requests++;
    if (request.headers.authorization !== `Bearer ${options.token}`) {
      return send(response, 401, { error: 'Unauthorized' });
    }
    const base64 = String(request.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const path = new URL(request.url ?? '/', 'http://gateway').pathname;
    if (request.method === 'GET' || (request.method === 'POST' && path !== '/' && path !== '/pipeline')) {
      const command = path.split('/').filter(Boolean).map(decodeURIComponent);
      const answer = await run(command, base64);
      return send(response, 'error' in answer ? 400 : 200, answer);
    }
    if (request.method !== 'POST') return send(response, 405, { error: 'method not allowed' });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch {
      return send(response, 400, { error: 'ERR body is not a JSON command' });
    }
    if (path === '/pipeline') {
      if (!Array.isArray(body)) return send(response, 400, { error: 'ERR expected an array of commands' });
      const answers = [];
      for (const command of body) answers.push(await run(command, base64));
      return send(response, 200, answers);
    }
    const answer = await run(body, base64);
    return send(response, 'error' in answer ? 400 : 200, answer);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      send(response, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      valkey.disconnect();
    },
  };
}

function encode(value: unknown): unknown {
  if (typeof value === 'string') return value === 'OK' ? value : Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(encode);
  return value;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
