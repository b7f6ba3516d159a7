/**
 * ES256 and EdDSA at the edge under workerd: an edge without KEYSET_KEY that takes a public-only keyset, tokens
 * signed outside Keyward (jose from the private JWK; PyJWT through a fixture, since Python cannot run here),
 * tokens that name a key of another algorithm or carry a DER signature, and GET /.well-known/jwks.json.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url } from '../../../shared/base64url.ts';
import type { Keyset } from '../../../shared/keyset.ts';
import { computeKid } from '../../../shared/kid.ts';
import { health, postVerify, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildMixedKeyset,
  EDDSA_PAIR,
  ES256_PAIR,
  edgeView,
  signWithPair,
} from '../../../test/support/key-pairs.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  KEYSET_VERIFY_KEY,
  seal,
  secret,
  signManifestOf,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import worker from '../../src/runtime/worker.ts';
// Signed by PyJWT (test/support/pyjwt-sign.ts) with ES256_PAIR and EDDSA_PAIR, claims valid at NOW;
// edge/test/node/interop.test.ts checks the EdDSA one is what PyJWT signs today (Ed25519 is deterministic).
import PYJWT from '../fixtures/pyjwt-tokens.json' with { type: 'json' };

const NOW = Date.parse('2026-06-01T12:00:00Z');
const HS = secret('asym-hs');
const PUBLIC_ONLY = { KEYSET_VERIFY_KEY };

const claims = (extra: Record<string, unknown> = {}) => ({
  sub: 'user-7',
  iat: epochSeconds(NOW),
  exp: epochSeconds(NOW) + 600,
  ...extra,
});

function edgeWith(vars: Record<string, string>, now: () => number = () => NOW): Edge {
  return createEdge({ env: vars, now, log: () => {} });
}

/** ES256 active, EdDSA previous: the public keyset an edge without KEYSET_KEY takes (version 2 or more). */
async function publicKeyset(version: number): Promise<Keyset> {
  return edgeView(await buildMixedKeyset(version, [{ key: ES256_PAIR }, { key: EDDSA_PAIR }]));
}

async function put(edge: Edge, envelope: string): Promise<{ status: number; body: unknown }> {
  const response = await putKeyset(edge, envelope);
  return { status: response.status, body: await response.json() };
}

function bytes(segment: string): Uint8Array {
  const decoded = decodeBase64url(segment);
  if (decoded === undefined) throw new Error('not base64url');
  return decoded;
}

/** An ECDSA signature (r || s, 32 bytes each) re-encoded as the ASN.1 DER SEQUENCE node:crypto and OpenSSL use. */
function derOf(raw: Uint8Array): Uint8Array {
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

describe('an edge without KEYSET_KEY', () => {
  it('takes a public-only keyset (a bare signed JWS) and verifies ES256 and EdDSA tokens', async () => {
    const edge = edgeWith(PUBLIC_ONLY);
    const envelope = await signManifestOf(await publicKeyset(2));
    expect(envelope.split('.')).toHaveLength(3);
    expect(await put(edge, envelope)).toMatchObject({ status: 200, body: { version: 2 } });
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      const response = await postVerify(edge, await signWithPair(pair, claims()));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ valid: true, kid: pair.kid, claims: claims() });
      // Without kid, only keys of the header's alg are tried.
      expect(await verifyError(edge, await signWithPair(pair, claims(), { kid: null }))).toBeUndefined();
    }
    expect((await health(edge)).body).toMatchObject({ status: 'ok', keyset_version: 2 });
  });

  it('verifies tokens PyJWT signed', async () => {
    const edge = edgeWith(PUBLIC_ONLY);
    await put(edge, await signManifestOf(await publicKeyset(2)));
    for (const [token, kid] of [
      [PYJWT.ES256, ES256_PAIR.kid],
      [PYJWT.EdDSA, EDDSA_PAIR.kid],
    ] as const) {
      const response = await postVerify(edge, token);
      expect(await response.json()).toEqual({ valid: true, kid, claims: PYJWT.claims });
    }
  });

  it('answers an encrypted keyset 401 envelope_undecryptable and keeps what it holds', async () => {
    const edge = edgeWith(PUBLIC_ONLY);
    await put(edge, await signManifestOf(await publicKeyset(2)));
    const hs = edgeView(await buildMixedKeyset(3, [{ key: HS }, { key: ES256_PAIR }]));
    expect(await put(edge, await seal(hs))).toEqual({
      status: 401,
      body: { error: 'envelope_undecryptable' },
    });
    expect(edge.store.version).toBe(2);
    expect(await verifyError(edge, await signWithPair(EDDSA_PAIR, claims()))).toBeUndefined();
    // Its HS256 secret never reached this edge, which holds no HS256 key at all: the kid is unknown to it.
    const hsToken = await signWithJose(HS, claims(), { kid: await computeKid(HS) });
    expect(await verifyError(edge, hsToken)).toBe('key_unknown');
  });

  it('refuses a keyset carrying a private key (400 keyset_invalid) and keeps what it holds', async () => {
    const edge = edgeWith(PUBLIC_ONLY);
    await put(edge, await signManifestOf(await publicKeyset(2)));
    const withD = await buildMixedKeyset(3, [{ key: ES256_PAIR }, { key: EDDSA_PAIR }]);
    expect(withD.keys.every((key) => 'd' in key)).toBe(true);
    const answer = await put(edge, await signManifestOf(withD));
    expect(answer).toEqual({ status: 400, body: { error: 'keyset_invalid' } });
    expect(JSON.stringify(answer)).not.toContain(ES256_PAIR.d as string);
    expect(edge.store.version).toBe(2);
    expect(await verifyError(edge, await signWithPair(ES256_PAIR, claims()))).toBeUndefined();
  });

  it('refuses a bare manifest that carries an HS256 secret with 400 envelope_unencrypted', async () => {
    const edge = edgeWith(PUBLIC_ONLY);
    const bare = await signManifestOf(
      edgeView(await buildMixedKeyset(2, [{ key: ES256_PAIR }, { key: HS }])),
    );
    expect(await put(edge, bare)).toEqual({ status: 400, body: { error: 'envelope_unencrypted' } });
    expect(edge.store.version).toBe(0);
  });

  it('runs as the Worker entry, env without KEYSET_KEY', async () => {
    const isolateEnv = { ...env, KEYSET_KEY: undefined } as unknown as Env;
    const call = async (request: Request) => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(request as never, isolateEnv, ctx);
      await waitOnExecutionContext(ctx);
      return response as unknown as Response;
    };
    const isolate = { fetch: call };
    const manifest = await signManifestOf(await publicKeyset(2));
    expect((await putKeyset(isolate, manifest)).status).toBe(200);
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      const token = await signWithPair(pair, { sub: 'worker', exp: epochSeconds(Date.now()) + 60 });
      expect(await verifyError(isolate, token)).toBeUndefined();
    }
    const undecryptable = await putKeyset(isolate, await seal(await buildKeyset(3, HS)));
    expect(undecryptable.status).toBe(401);
    await undecryptable.body?.cancel();
  });
});

describe('asymmetric tokens the edge refuses', () => {
  async function mixedEdge(vars: Record<string, string> = {}): Promise<Edge> {
    const edge = edgeWith({ ...EDGE_KEYS, ...vars });
    const keyset = edgeView(
      await buildMixedKeyset(3, [{ key: ES256_PAIR }, { key: EDDSA_PAIR }, { key: HS }]),
    );
    expect((await put(edge, await seal(keyset))).status).toBe(200);
    return edge;
  }

  it('answers algorithm_not_allowed for a header naming a key of another algorithm', async () => {
    const edge = await mixedEdge();
    const hsKid = await computeKid(HS);
    // An ES256 signature under the EdDSA key's kid, and the other way round.
    expect(await verifyError(edge, await signWithPair(ES256_PAIR, claims(), { kid: EDDSA_PAIR.kid }))).toBe(
      'algorithm_not_allowed',
    );
    expect(await verifyError(edge, await signWithPair(EDDSA_PAIR, claims(), { kid: ES256_PAIR.kid }))).toBe(
      'algorithm_not_allowed',
    );
    // The classic confusion: HMAC keyed with the public key's bytes, under the asymmetric key's kid.
    expect(await verifyError(edge, await signWithJose(ES256_PAIR.x, claims(), { kid: ES256_PAIR.kid }))).toBe(
      'algorithm_not_allowed',
    );
    expect(await verifyError(edge, await signWithPair(ES256_PAIR, claims(), { kid: hsKid }))).toBe(
      'algorithm_not_allowed',
    );
  });

  it('answers token_malformed for an ES256 signature in DER, and for an EdDSA signature not 64 bytes long', async () => {
    const edge = await mixedEdge();
    const good = await signWithPair(ES256_PAIR, claims());
    expect(await verifyError(edge, good)).toBeUndefined();
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const der = derOf(bytes(signature));
    expect(der.length).toBeGreaterThan(64);
    expect(await verifyError(edge, `${header}.${payload}.${encodeBase64url(der)}`)).toBe('token_malformed');
    const ed = (await signWithPair(EDDSA_PAIR, claims())).split('.') as [string, string, string];
    const short = encodeBase64url(bytes(ed[2]).subarray(0, 63));
    expect(await verifyError(edge, `${ed[0]}.${ed[1]}.${short}`)).toBe('token_malformed');
  });

  it('answers algorithm_not_allowed for ES256 and EdDSA when JWT_ALGORITHMS leaves them out', async () => {
    const edge = await mixedEdge({ JWT_ALGORITHMS: 'HS256' });
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      expect(await verifyError(edge, await signWithPair(pair, claims()))).toBe('algorithm_not_allowed');
    }
  });
});

describe('GET /.well-known/jwks.json', () => {
  const jwksOf = (edge: Edge, headers: Record<string, string> = {}) =>
    edge.fetch(new Request('http://edge.test/.well-known/jwks.json', { headers }));

  it('answers 503 keyset_unavailable while the edge holds no keyset', async () => {
    const response = await jwksOf(edgeWith(PUBLIC_ONLY));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ error: 'keyset_unavailable' });
  });

  it('serves the public JWK of every asymmetric key, never a secret or a private member', async () => {
    const edge = edgeWith(EDGE_KEYS);
    const keyset = await buildMixedKeyset(3, [{ key: EDDSA_PAIR }, { key: HS }, { key: ES256_PAIR }]);
    await put(edge, await seal(edgeView(keyset)));
    const response = await jwksOf(edge);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      keys: [
        { kty: 'OKP', crv: 'Ed25519', x: EDDSA_PAIR.x, kid: EDDSA_PAIR.kid, alg: 'EdDSA', use: 'sig' },
        {
          kty: 'EC',
          crv: 'P-256',
          x: ES256_PAIR.x,
          y: (ES256_PAIR as { y: string }).y,
          kid: ES256_PAIR.kid,
          alg: 'ES256',
          use: 'sig',
        },
      ],
    });
    for (const secretPart of [HS, ES256_PAIR.d, EDDSA_PAIR.d, '"k"', '"d"']) {
      expect(text).not.toContain(secretPart);
    }
    // A third party's JWKS client verifies Keyward tokens with it.
    const keys = createLocalJWKSet(JSON.parse(text));
    for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
      const { payload } = await jwtVerify(await signWithPair(pair, claims()), keys, {
        currentDate: new Date(NOW),
      });
      expect(payload.sub).toBe('user-7');
    }
  });

  it('serves an empty set for an HS256-only keyset', async () => {
    const edge = edgeWith(EDGE_KEYS);
    await put(edge, await seal(await buildKeyset(1, HS)));
    const response = await jwksOf(edge);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ keys: [] });
  });

  it('has a strong ETag answered 304 on If-None-Match, and max-age no longer than KEYSET_TTL', async () => {
    const edge = edgeWith({ ...PUBLIC_ONLY, KEYSET_TTL: '60s' });
    await put(edge, await signManifestOf(await publicKeyset(2)));
    const first = await jwksOf(edge);
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(first.headers.get('cache-control')).toBe('public, max-age=60');
    await first.body?.cancel();
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await jwksOf(edge, { 'if-none-match': ifNoneMatch });
      expect(again.status).toBe(304);
      expect(again.headers.get('etag')).toBe(etag);
      expect(await again.text()).toBe('');
    }
    const other = await jwksOf(edge, { 'if-none-match': '"other"' });
    expect(other.status).toBe(200);
    await other.body?.cancel();

    // Another keyset, another body, another ETag; the old one no longer matches.
    await put(edge, await signManifestOf(edgeView(await buildMixedKeyset(3, [{ key: EDDSA_PAIR }]))));
    const changed = await jwksOf(edge, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(((await changed.json()) as { keys: unknown[] }).keys).toHaveLength(1);
  });

  it('drops a previous key once it expires, with a new ETag', async () => {
    let now = NOW;
    const edge = edgeWith(PUBLIC_ONLY, () => now);
    const keyset = await buildMixedKeyset(2, [
      { key: ES256_PAIR },
      { key: EDDSA_PAIR, expiresAt: new Date(NOW + 60_000) },
    ]);
    await put(edge, await signManifestOf(edgeView(keyset)));
    const before = await jwksOf(edge);
    expect(((await before.json()) as { keys: unknown[] }).keys).toHaveLength(2);
    now = NOW + 61_000;
    const after = await jwksOf(edge);
    expect(((await after.json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid)).toEqual([
      ES256_PAIR.kid,
    ]);
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
  });
});
