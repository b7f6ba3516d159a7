/**
 * What the bare no-verify servers answer: the /verify JSON Keyward sends for a valid token (`valid`, `kid`,
 * `claims`, serialized per request as the edge does), for any token read the way the edge reads it, without
 * checking it. Portable (Web APIs only), so that the Node, Bun and Deno servers run the same code. Env of the
 * servers: BENCH_ANSWER, JSON `{ kid, claims }`: what every answer says.
 */
import { bearerToken } from '../../shared/bearer-token.ts';

export interface BareAnswerSpec {
  kid: string;
  claims: Record<string, unknown>;
}

export interface BareAnswer {
  status: 200 | 401;
  body: string;
}

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

/** The answer to a request carrying `token` (undefined when it carries none). */
export function bareAnswer(spec: BareAnswerSpec, token: string | undefined): BareAnswer {
  if (token === undefined || token === '')
    return { status: 401, body: '{"valid":false,"error":"token_missing"}' };
  return { status: 200, body: JSON.stringify({ valid: true, kid: spec.kid, claims: spec.claims }) };
}

/** GET's forward-auth headers: the kid and the subject, as the edge sends them. */
export function forwardAuthHeaders(spec: BareAnswerSpec): Record<string, string> {
  const sub = spec.claims.sub;
  return typeof sub === 'string'
    ? { 'x-auth-kid': spec.kid, 'x-auth-subject': sub }
    : { 'x-auth-kid': spec.kid };
}

const JSON_NO_STORE = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/**
 * The fetch handler of the Bun and Deno servers: GET answered synchronously, a POST once its body is read (only
 * when no Bearer header carries the token); 404 for anything but GET and POST /verify.
 */
export function bareFetchHandler(spec: BareAnswerSpec): (request: Request) => Response | Promise<Response> {
  const forwardAuth = { ...JSON_NO_STORE, ...forwardAuthHeaders(spec) };
  const respond = (answer: BareAnswer, headers: Record<string, string>) =>
    new Response(answer.body, {
      status: answer.status,
      headers: answer.status === 200 ? headers : JSON_NO_STORE,
    });
  return (request) => {
    const { url, method } = request;
    if (
      url.slice(url.indexOf('/', url.indexOf('//') + 2)) !== '/verify' ||
      (method !== 'GET' && method !== 'POST')
    ) {
      return new Response(null, { status: 404 });
    }
    const bearer = bearerOf(request.headers.get('authorization'));
    if (method === 'GET') return respond(bareAnswer(spec, bearer), forwardAuth);
    if (bearer !== undefined) return respond(bareAnswer(spec, bearer), JSON_NO_STORE);
    return request.text().then((text) => respond(bareAnswer(spec, tokenOfBody(text)), JSON_NO_STORE));
  };
}
