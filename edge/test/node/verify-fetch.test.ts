/**
 * The Bun and Deno entries serve /verify through createVerifyFetch, straight from the Request to the edge's
 * VerifyProtocol, and everything else through the Hono app: differential, every request goes once to that
 * handler and once to the app's fetch, which must answer alike (status, headers, body). The real entries run
 * under bun and deno in runtimes.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { nodeVerify } from '../../../shared/runtime/node-verify.ts';
import { buildKeyset, EDGE_KEYS, seal, secret } from '../../../test/support/keysets.ts';
import {
  requestOf,
  type Sent,
  seenOf,
  verifyProtocolRequests,
  viaApp,
} from '../../../test/support/verify-protocol-requests.ts';
import { createEdge } from '../../src/create-edge.ts';
import { createVerifyFetch } from '../../src/runtime/verify-fetch.ts';

const ACTIVE = secret('verify-fetch-active');

function edgeWithLog() {
  const logs: string[] = [];
  const edge = createEdge({
    env: { ...EDGE_KEYS, MAX_TOKEN_BYTES: '2048' },
    primitive: nodeVerify,
    log: (m) => logs.push(m),
  });
  return { edge, logs, direct: createVerifyFetch(edge) };
}

describe('the Bun and Deno fetch handler answers exactly as the Hono app', () => {
  it('without a keyset: 503 keyset_unavailable on both', async () => {
    const { edge, direct } = edgeWithLog();
    const sent: Sent = { method: 'POST', body: JSON.stringify({ token: 'a.b.c' }) };
    const [fast, app] = [await seenOf(await direct(requestOf(sent))), await viaApp(edge, sent)];
    expect(fast).toEqual(app);
    expect(fast).toMatchObject({ status: 503, body: { valid: false, error: 'keyset_unavailable' } });
  });

  it('with a keyset: the same status, headers and body for every kind of request', async () => {
    const { edge, logs, direct } = edgeWithLog();
    const put = await direct(
      new Request('http://edge.test/keyset', {
        method: 'PUT',
        body: await seal(await buildKeyset(1, ACTIVE)),
      }),
    );
    expect(put.status).toBe(200);
    const statuses = new Set<number>();
    for (const [name, sent] of await verifyProtocolRequests(ACTIVE)) {
      const fast = await seenOf(await direct(requestOf(sent)));
      expect(fast, name).toEqual(await viaApp(edge, sent));
      statuses.add(fast.status);
    }
    // The cases reach every answer /verify has, and the paths that are not /verify.
    expect([...statuses].sort()).toEqual([200, 401, 404]);
    expect(logs.filter((line) => line.includes('unexpected'))).toEqual([]);
  });
});
