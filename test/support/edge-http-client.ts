/** The edge's HTTP surface (SPEC section 6) as a client sees it over real loopback HTTP. */

export interface EdgeAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Lower-case header names; only filled in by forwardAuthAt. */
  headers?: Record<string, string>;
}

const REQUEST_TIMEOUT_MS = 5_000;

async function call(url: string, init: RequestInit, withHeaders = false): Promise<EdgeAnswer> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsed: text };
  }
  if (!withHeaders) return { status: response.status, body };
  return { status: response.status, body, headers: Object.fromEntries(response.headers) };
}

/** POST /verify with a JSON body. */
export function verifyAt(edgeUrl: string, token: string): Promise<EdgeAnswer> {
  return call(`${edgeUrl}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

/** GET /verify with `Authorization: Bearer`, as a forward-auth proxy asks; the answer carries its headers. */
export function forwardAuthAt(edgeUrl: string, token: string): Promise<EdgeAnswer> {
  return call(`${edgeUrl}/verify`, { method: 'GET', headers: { authorization: `Bearer ${token}` } }, true);
}

export function healthOf(edgeUrl: string): Promise<EdgeAnswer> {
  return call(`${edgeUrl}/healthz`, { method: 'GET' });
}

/** PUT /keyset, as the control plane pushes (or as an attacker replays). */
export function putKeyset(edgeUrl: string, envelope: string): Promise<EdgeAnswer> {
  return call(`${edgeUrl}/keyset`, {
    method: 'PUT',
    headers: { 'content-type': 'application/jose' },
    body: envelope,
  });
}

/** The keyset version the edge holds, 0 when it holds none. */
export async function edgeVersion(edgeUrl: string): Promise<number> {
  const { body } = await healthOf(edgeUrl);
  return typeof body.keyset_version === 'number' ? body.keyset_version : 0;
}
