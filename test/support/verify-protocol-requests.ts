/**
 * Requests of every kind /verify meets (SPEC section 6: GET and POST, Bearer or JSON body, declared or chunked,
 * too large, not UTF-8, two Authorization headers, a query, other paths), and how to send one to an edge's Hono
 * app: the differential tests of the runtime entries' direct /verify paths compare their answers with these.
 */

import type { Edge } from '../../edge/src/create-edge.ts';
import { computeKid } from '../../shared/kid.ts';
import { epochSeconds, secret, signByHand, signWithJose } from './keysets.ts';

export interface Sent {
  method: 'GET' | 'POST' | 'PUT' | 'HEAD';
  path?: string;
  /** An array sends the header once per value. */
  headers?: Record<string, string | string[]>;
  /** Sent with a content-length unless `chunked`. */
  body?: string | Buffer;
  chunked?: boolean;
}

export interface Seen {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

export const COMPARED_HEADERS = [
  'content-type',
  'cache-control',
  'www-authenticate',
  'x-auth-kid',
  'x-auth-subject',
];

/**
 * `sent` as a web Request to http://edge.test, declaring its body's length as a server's Request would (a
 * chunked one declares none).
 */
export function requestOf(sent: Sent): Request {
  const body = sent.body === undefined ? undefined : new Uint8Array(Buffer.from(sent.body));
  const headers = Object.entries(sent.headers ?? {}).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((one): [string, string] => [name, one]),
  );
  if (body !== undefined && sent.chunked !== true) headers.push(['content-length', String(body.byteLength)]);
  return new Request(`http://edge.test${sent.path ?? '/verify'}`, { method: sent.method, headers, body });
}

/** What a web Response says, in the form the differential tests compare. */
export async function seenOf(response: Response): Promise<Seen> {
  const text = await response.text();
  return {
    status: response.status,
    headers: Object.fromEntries(COMPARED_HEADERS.map((h) => [h, response.headers.get(h)])),
    body: text === '' ? '' : JSON.parse(text),
  };
}

/** `sent` answered by the edge's Hono app. */
export async function viaApp(edge: Edge, sent: Sent): Promise<Seen> {
  return seenOf(await edge.fetch(requestOf(sent)));
}

/** Every kind of request, named; tokens signed by `active` (whose keyset the edge holds) and by others. */
export async function verifyProtocolRequests(active: string): Promise<[string, Sent][]> {
  const kid = await computeKid(active);
  const good = await signWithJose(active, { sub: 'alice', exp: epochSeconds(Date.now()) + 600 }, { kid });
  const json = (value: unknown) => ({ 'content-type': 'application/json', body: JSON.stringify(value) });
  const post = (value: unknown): Sent => {
    const { body, ...headers } = json(value);
    return { method: 'POST', headers, body };
  };
  return [
    ['POST JSON, valid', post({ token: good })],
    ['POST JSON, chunked', { ...post({ token: good }), chunked: true }],
    ['POST Bearer', { method: 'POST', headers: { authorization: `Bearer ${good}` } }],
    ['POST Bearer wins over body', { ...post({ token: 'x' }), headers: { authorization: `Bearer ${good}` } }],
    ['POST expired', post({ token: await signByHand(active, { sub: 'a', exp: 1 }) })],
    ['POST foreign key', post({ token: await signByHand(secret('listener-other'), { sub: 'a' }) })],
    ['POST no token', post({})],
    ['POST token null', post({ token: null })],
    ['POST token number', post({ token: 42 })],
    ['POST array body', post([good])],
    ['POST not JSON', { method: 'POST', body: 'token=abc' }],
    ['POST empty body', { method: 'POST', body: '' }],
    ['POST no body', { method: 'POST' }],
    ['POST not UTF-8', { method: 'POST', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }],
    ['POST too large (declared)', post({ token: 'a'.repeat(4000) })],
    ['POST too large (chunked)', { ...post({ token: 'a'.repeat(4000) }), chunked: true }],
    ['GET valid', { method: 'GET', headers: { authorization: `Bearer ${good}` } }],
    ['GET no token', { method: 'GET' }],
    // A proxy that appends a header: the web Headers joins both into one value, so must a direct path.
    [
      'GET two Authorization headers',
      { method: 'GET', headers: { authorization: [`Bearer ${good}`, 'Bearer junk'] } },
    ],
    [
      'POST two Authorization headers',
      { method: 'POST', headers: { authorization: [`Bearer ${good}`, 'Bearer junk'] } },
    ],
    ['GET wrong scheme', { method: 'GET', headers: { authorization: `Basic ${good}` } }],
    [
      'GET sub not text',
      { method: 'GET', headers: { authorization: `Bearer ${await signByHand(active, { sub: 7 })}` } },
    ],
    [
      'GET with query',
      { method: 'GET', path: '/verify?from=nginx', headers: { authorization: `Bearer ${good}` } },
    ],
    [
      'GET /verify/ (not the route)',
      { method: 'GET', path: '/verify/', headers: { authorization: `Bearer ${good}` } },
    ],
    ['GET /verifyx (not the route)', { method: 'GET', path: '/verifyx' }],
    [
      'GET percent-encoded path',
      { method: 'GET', path: '/%76erify', headers: { authorization: `Bearer ${good}` } },
    ],
    ['HEAD /verify (Hono)', { method: 'HEAD', headers: { authorization: `Bearer ${good}` } }],
    ['healthz (Hono)', { method: 'GET', path: '/healthz' }],
    ['unknown path (Hono)', { method: 'GET', path: '/nope' }],
  ];
}
