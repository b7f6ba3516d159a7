/**
 * Edges that hold no secret (SPEC section 9): the real Node, Deno and Bun entry processes and the Worker under
 * `wrangler dev` (workerd), started without KEYSET_KEY, take a pushed public-only keyset (the bare signed JWS),
 * verify ES256 and EdDSA tokens that PyJWT and jose signed from the private JWK, serve the keys at
 * /.well-known/jwks.json, and answer an encrypted keyset they cannot open with 401, keeping what they hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putKeyset, verifyAt } from '../support/edge-http-client.ts';
import {
  type EdgeProcess,
  type EdgeProcessRuntime,
  startBunEdge,
  startDenoEdge,
  startNodeEdge,
  startWorkerdEdge,
} from '../support/edge-processes.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView, signWithPair } from '../support/key-pairs.ts';
import { buildKeyset, epochSeconds, seal, secret, signManifestOf } from '../support/keysets.ts';
import { signWithPyJwt } from '../support/pyjwt-sign.ts';

const STARTS = { node: startNodeEdge, deno: startDenoEdge, bun: startBunEdge, workerd: startWorkerdEdge };
const RUNTIMES = Object.keys(STARTS) as EdgeProcessRuntime[];
const edges = new Map<EdgeProcessRuntime, EdgeProcess<EdgeProcessRuntime>>();

beforeAll(async () => {
  // No keysetKey: the processes get KEYSET_VERIFY_KEY only.
  const started = await Promise.allSettled(RUNTIMES.map((runtime) => STARTS[runtime]({})));
  for (const result of started)
    if (result.status === 'fulfilled') edges.set(result.value.runtime, result.value);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
}, 180_000);

afterAll(async () => {
  await Promise.all([...edges.values()].map((edge) => edge.stop()));
});

const claims = () => ({ sub: 'public-only', exp: epochSeconds(Date.now()) + 300 });

describe.each(RUNTIMES)('a %s edge without KEYSET_KEY', (runtime) => {
  it('takes a public-only keyset and verifies PyJWT and jose ES256 and EdDSA tokens', async () => {
    const { url } = edges.get(runtime) as EdgeProcess<EdgeProcessRuntime>;
    const keyset = edgeView(await buildMixedKeyset(2, [{ key: EDDSA_PAIR }, { key: ES256_PAIR }]));
    expect(await putKeyset(url, await signManifestOf(keyset))).toMatchObject({
      status: 200,
      body: { version: 2 },
    });

    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      for (const token of [signWithPyJwt(pair, claims()), await signWithPair(pair, claims())]) {
        expect(await verifyAt(url, token)).toMatchObject({
          status: 200,
          body: { valid: true, kid: pair.kid, claims: { sub: 'public-only' } },
        });
      }
      const crossed = await signWithPair(pair, claims(), {
        kid: (pair === ES256_PAIR ? EDDSA_PAIR : ES256_PAIR).kid,
      });
      expect((await verifyAt(url, crossed)).body).toEqual({ valid: false, error: 'algorithm_not_allowed' });
    }

    const jwks = await fetch(`${url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    const body = (await jwks.json()) as { keys: Array<Record<string, unknown>> };
    expect(body.keys.map((key) => [key.kid, key.alg])).toEqual([
      [EDDSA_PAIR.kid, 'EdDSA'],
      [ES256_PAIR.kid, 'ES256'],
    ]);

    const encrypted = await seal(await buildKeyset(3, secret(`${runtime}-hs`)));
    expect(await putKeyset(url, encrypted)).toEqual({
      status: 401,
      body: { error: 'envelope_undecryptable' },
    });
    const still = await signWithPair(EDDSA_PAIR, claims());
    expect(await verifyAt(url, still)).toMatchObject({ status: 200, body: { valid: true } });
  });
});
