/**
 * Drives an edge in-process (any object with a fetch: createEdge's, or the Worker entry's) with web Requests, and
 * hands back the raw Response. For an edge in another process, over loopback, see edge-http-client.ts.
 */
export interface Fetchable {
  fetch(request: Request): Promise<Response>;
}

const BASE = 'http://edge.test';

export function putKeyset(edge: Fetchable, envelope: BodyInit, headers: Record<string, string> = {}) {
  return edge.fetch(new Request(`${BASE}/keyset`, { method: 'PUT', body: envelope, headers }));
}

export function putRevocations(edge: Fetchable, document: BodyInit) {
  return edge.fetch(
    new Request(`${BASE}/revocations`, {
      method: 'PUT',
      body: document,
      headers: { 'content-type': 'application/jose' },
    }),
  );
}

export function postVerify(edge: Fetchable, token: string) {
  return edge.fetch(
    new Request(`${BASE}/verify`, {
      method: 'POST',
      body: JSON.stringify({ token }),
      headers: { 'content-type': 'application/json' },
    }),
  );
}

export function getVerify(edge: Fetchable, authorization?: string) {
  return edge.fetch(
    new Request(`${BASE}/verify`, { headers: authorization === undefined ? {} : { authorization } }),
  );
}

export async function verifyError(edge: Fetchable, token: string): Promise<string | undefined> {
  const response = await postVerify(edge, token);
  const body = (await response.json()) as { valid: boolean; error?: string };
  return body.valid ? undefined : body.error;
}

export async function health(edge: Fetchable): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await edge.fetch(new Request(`${BASE}/healthz`));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
