/**
 * What the bare servers answer, the same on Node, Bun and Deno: the /verify JSON Keyward sends (`valid`, `kid`,
 * `claims`, serialized per request as the edge does), the token read the way the edge reads it. Without
 * BENCH_KEYS the token is not checked and every answer says BENCH_ANSWER's kid and claims (the HTTP floor);
 * with BENCH_KEYS the raw node:crypto verify (bench/support/raw-node-verify.ts) decides, which every runtime
 * offers (the floor and the lower bound served as one), its HS256 HMAC in JavaScript with BENCH_HMAC=js.
 * Env: BENCH_ANSWER (JSON {kid, claims}) or BENCH_KEYS (JSON RawKeySpec[], newest first); BENCH_HMAC.
 */
import { bearerToken } from '../../shared/bearer-token.ts';
import { createRawNodeVerifier, type RawKeySpec } from '../support/raw-node-verify.ts';

export interface BareAnswer {
  status: 200 | 401;
  body: string;
  /** For a valid token: its kid and subject, the forward-auth headers of GET. */
  kid?: string;
  sub?: string;
}

/** The answer to a request carrying `token` (undefined when it carries none). */
export type Answerer = (token: string | undefined) => BareAnswer;

/** The token of an `Authorization: Bearer` value, read as the edge reads it. */
export const bearerOf = bearerToken;

/** The `token` member of a POST body, or undefined when the body is no JSON object with a string `token`. */
export function tokenOfBody(text: string): string | undefined {
  try {
    const token = (JSON.parse(text) as { token?: unknown } | null)?.token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

/** The answerer the env asks for (see the file's comment). */
export function answererOf(env: (name: string) => string | undefined): Answerer {
  const keys = env('BENCH_KEYS');
  if (keys !== undefined) {
    const verify = createRawNodeVerifier(
      JSON.parse(keys) as RawKeySpec[],
      env('BENCH_HMAC') === 'js' ? 'js' : 'node',
    );
    return (token) => {
      const result = verify(token ?? '');
      if (!result.valid) return { status: 401, body: JSON.stringify({ error: result.error }) };
      const body = JSON.stringify({ valid: true, kid: result.kid, claims: result.claims });
      return { status: 200, body, kid: result.kid, sub: String(result.claims.sub) };
    };
  }
  const { kid, claims } = JSON.parse(env('BENCH_ANSWER') ?? '{}') as {
    kid: string;
    claims: Record<string, unknown>;
  };
  const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
  return (token) =>
    token === undefined || token === ''
      ? { status: 401, body: '{"valid":false,"error":"token_missing"}' }
      : { status: 200, body: JSON.stringify({ valid: true, kid, claims }), kid, sub };
}

const JSON_NO_STORE = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/**
 * The fetch handler of the Bun and Deno servers: GET answered synchronously, a POST once its body is read (only
 * when no Bearer header carries the token); 404 for anything but GET and POST /verify.
 */
export function bareFetchHandler(answer: Answerer): (request: Request) => Response | Promise<Response> {
  const respond = (result: BareAnswer, forwardAuth: boolean) => {
    let headers: Record<string, string> = JSON_NO_STORE;
    if (forwardAuth && result.kid !== undefined) {
      headers = { ...JSON_NO_STORE, 'x-auth-kid': result.kid };
      if (result.sub !== undefined) headers['x-auth-subject'] = result.sub;
    }
    return new Response(result.body, { status: result.status, headers });
  };
  return (request) => {
    const { url, method } = request;
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    if (path !== '/verify' || (method !== 'GET' && method !== 'POST')) {
      return new Response(null, { status: 404 });
    }
    const bearer = bearerOf(request.headers.get('authorization'));
    if (method === 'GET') return respond(answer(bearer), true);
    if (bearer !== undefined) return respond(answer(bearer), false);
    return request.text().then((text) => respond(answer(tokenOfBody(text)), false));
  };
}
