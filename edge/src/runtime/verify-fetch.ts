/**
 * The Bun and Deno entries' fetch handler: GET and POST /verify go straight from the runtime's Request to the
 * edge's VerifyProtocol (the one the Hono route calls too), skipping Hono's routing and Context; every other
 * request, and any /verify path Hono would read differently (percent-encoded), goes to the Hono app.
 */
import { bearerToken } from '../../../shared/bearer-token.ts';
import type { Edge } from '../create-edge.ts';
import { declaredWithin, readBodyText, textWithin } from '../http/read-body.ts';
import type { BodyReader, VerifyAnswer } from '../http/verify-protocol.ts';

// The process outlives the response; a pull never rejects (KeysetSync reports failures itself).
const runOn = (task: Promise<unknown>) => void task;
// GET never reads a body: one reader for all of them instead of a closure per request.
const noBody = () => '';

/**
 * The handler, answering with a Response itself when the verdict came at once (Bun.serve and Deno.serve take a
 * Response or a promise of one): no promise, no microtask per request on the way out. A POST whose token is in
 * the body has it read first, then verified in the same callback.
 */
export function createVerifyFetch(edge: Edge): (request: Request) => Response | Promise<Response> {
  const answer = (method: 'GET' | 'POST', authorization: string | null, readBody: BodyReader) => {
    const answer = edge.verify({ method, authorization, readBody, background: runOn });
    return answer instanceof Promise ? answer.then(responseOf) : responseOf(answer);
  };
  return (request) => {
    const { method } = request;
    if ((method !== 'GET' && method !== 'POST') || !isVerifyPath(request.url)) return edge.fetch(request);
    const authorization = request.headers.get('authorization');
    if (method === 'GET' || bearerToken(authorization) !== undefined)
      return answer(method, authorization, noBody);
    // A declared length within the limit: one native read, and the verdict in its callback.
    const limit = edge.verifyBodyLimit;
    if (declaredWithin(request, limit)) {
      return request.bytes().then((bytes) => answer(method, authorization, () => textWithin(bytes, limit)));
    }
    // The reader replays what the read gave, a too-large body included.
    return readBodyText(request, limit).then(
      (text) => answer(method, authorization, () => text),
      (error: unknown) =>
        answer(method, authorization, () => {
          throw error;
        }),
    );
  };
}

function responseOf(answer: VerifyAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/** True for `/verify`, with or without a query, in an absolute URL as a Request holds it. */
function isVerifyPath(url: string): boolean {
  const path = url.indexOf('/', url.indexOf('//') + 2);
  return (
    path >= 0 &&
    url.startsWith('/verify', path) &&
    (url.length === path + 7 || url.charCodeAt(path + 7) === 63) /* ? */
  );
}
