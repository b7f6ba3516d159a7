/**
 * Keyward's ES256 and EdDSA tokens against code that is not Keyward's: a Node edge (node:crypto primitive, the
 * Node listener) on loopback without KEYSET_KEY verifies tokens PyJWT and jose signed from the private JWK, and
 * jose's createRemoteJWKSet verifies Keyward tokens with the edge's /.well-known/jwks.json. Also the tokens the
 * edge refuses, on Node's primitive: a kid naming a key of another algorithm, a DER signature.
 */
import { createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url } from '../../../shared/base64url.ts';
import type { Keyset } from '../../../shared/keyset.ts';
import { putKeyset, verifyAt } from '../../../test/support/edge-http-client.ts';
import {
  buildMixedKeyset,
  EDDSA_PAIR,
  ES256_PAIR,
  edgeView,
  signWithPair,
} from '../../../test/support/key-pairs.ts';
import { buildKeyset, epochSeconds, seal, secret, signManifestOf } from '../../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../../test/support/node-edge-server.ts';
import { pyJwtVersion, signWithPyJwt } from '../../../test/support/pyjwt-sign.ts';
import PYJWT from '../fixtures/pyjwt-tokens.json' with { type: 'json' };

const PAIRS = [ES256_PAIR, EDDSA_PAIR] as const;
let server: NodeEdgeServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function publicEdge(): Promise<NodeEdgeServer> {
  server = await startNodeEdgeServer(undefined);
  const keyset: Keyset = edgeView(await buildMixedKeyset(2, [{ key: ES256_PAIR }, { key: EDDSA_PAIR }]));
  expect(await putKeyset(server.url, await signManifestOf(keyset))).toMatchObject({
    status: 200,
    body: { version: 2 },
  });
  return server;
}

const claims = () => ({ sub: 'interop', iat: epochSeconds(Date.now()), exp: epochSeconds(Date.now()) + 300 });

describe(`tokens PyJWT ${pyJwtVersion()} signs`, () => {
  it('verify at a Node edge that holds no KEYSET_KEY', async () => {
    const { url } = await publicEdge();
    for (const pair of PAIRS) {
      const token = signWithPyJwt(pair, claims());
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: pair.alg, kid: pair.kid });
      const answer = await verifyAt(url, token);
      expect(answer).toMatchObject({ status: 200, body: { valid: true, kid: pair.kid } });
      // Tampered claims: the same header and signature no longer verify.
      const [header, , signature] = token.split('.');
      const forged = `${header}.${encodeBase64url(new TextEncoder().encode(JSON.stringify({ sub: 'admin' })))}.${signature}`;
      expect((await verifyAt(url, forged)).body).toEqual({ valid: false, error: 'signature_invalid' });
    }
  });

  it('are what the workerd suite reads from the fixture', async () => {
    // Ed25519 signatures are deterministic: PyJWT signs the fixture's claims to the very same token today.
    expect(signWithPyJwt(EDDSA_PAIR, PYJWT.claims)).toBe(PYJWT.EdDSA);
    // ECDSA ones are not; the fixture's verifies under the pair's public key with jose.
    const { d: _d, ...publicJwk } = ES256_PAIR;
    const key = await importJWK(publicJwk, 'ES256');
    const { payload } = await jwtVerify(PYJWT.ES256, key, { currentDate: new Date(PYJWT.claims.iat * 1000) });
    expect(payload).toEqual(PYJWT.claims);
  });
});

describe('tokens jose signs from the private JWK', () => {
  it('verify at a Node edge that holds no KEYSET_KEY, with kid and without', async () => {
    const { url } = await publicEdge();
    for (const pair of PAIRS) {
      for (const kid of [pair.kid, null]) {
        const answer = await verifyAt(url, await signWithPair(pair, claims(), { kid }));
        expect(answer).toMatchObject({ status: 200, body: { valid: true, kid: pair.kid } });
      }
    }
  });
});

describe("jose's createRemoteJWKSet against the edge's /.well-known/jwks.json", () => {
  it('verifies Keyward ES256 and EdDSA tokens, and refuses a token of a key the set lacks', async () => {
    const { url } = await publicEdge();
    const keys = createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`));
    for (const pair of PAIRS) {
      for (const token of [await signWithPair(pair, claims()), signWithPyJwt(pair, claims())]) {
        const { payload, protectedHeader } = await jwtVerify(token, keys);
        expect(payload.sub).toBe('interop');
        expect(protectedHeader.kid).toBe(pair.kid);
      }
    }
    // An ES256 signature under the EdDSA key's kid fails there as at the edge.
    const crossed = await signWithPair(ES256_PAIR, claims(), { kid: EDDSA_PAIR.kid });
    await expect(jwtVerify(crossed, keys)).rejects.toThrow();
    expect((await verifyAt(url, crossed)).body).toEqual({ valid: false, error: 'algorithm_not_allowed' });
  });

  it('is served through the Node listener with ETag, 304 and max-age', async () => {
    const { url } = await publicEdge();
    const first = await fetch(`${url}/.well-known/jwks.json`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/json');
    expect(first.headers.get('cache-control')).toBe('public, max-age=300');
    const body = (await first.json()) as { keys: Array<Record<string, unknown>> };
    expect(body.keys.map((key) => key.kid)).toEqual([ES256_PAIR.kid, EDDSA_PAIR.kid]);
    for (const key of body.keys) expect(key).not.toHaveProperty('d');
    const etag = first.headers.get('etag') as string;
    const again = await fetch(`${url}/.well-known/jwks.json`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });
});

describe('a Node edge refuses', () => {
  it('an encrypted keyset it cannot open without KEYSET_KEY (401), keeping its keyset', async () => {
    const { url, edge } = await publicEdge();
    const answer = await putKeyset(url, await seal(await buildKeyset(3, secret('interop-hs'))));
    expect(answer).toEqual({ status: 401, body: { error: 'envelope_undecryptable' } });
    expect(edge.store.version).toBe(2);
  });

  it('a kid naming a key of another algorithm (algorithm_not_allowed), an ES256 signature in DER (token_malformed)', async () => {
    const { url } = await publicEdge();
    const edDsaUnderEsKid = await signWithPair(EDDSA_PAIR, claims(), { kid: ES256_PAIR.kid });
    expect((await verifyAt(url, edDsaUnderEsKid)).body).toEqual({
      valid: false,
      error: 'algorithm_not_allowed',
    });
    const [header, payload, signature] = (await signWithPair(ES256_PAIR, claims())).split('.') as [
      string,
      string,
      string,
    ];
    const der = toDer(decodeBase64url(signature) as Uint8Array);
    expect((await verifyAt(url, `${header}.${payload}.${encodeBase64url(der)}`)).body).toEqual({
      valid: false,
      error: 'token_malformed',
    });
  });
});

/** r || s as the ASN.1 DER SEQUENCE node:crypto signs by default. */
function toDer(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array): number[] => {
    let at = 0;
    while (at < bytes.length - 1 && bytes[at] === 0) at++;
    const body = [...bytes.subarray(at)];
    if ((body[0] as number) >= 0x80) body.unshift(0);
    return [0x02, body.length, ...body];
  };
  const content = [...integer(raw.subarray(0, 32)), ...integer(raw.subarray(32))];
  return new Uint8Array([0x30, content.length, ...content]);
}
