import { describe, expect, it } from 'vitest';
import { computeKid } from '../../../shared/kid.ts';
import { getVerify, postVerify, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  seal,
  secret,
  signByHand,
  signWithJose,
  unsignedToken,
} from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const ACTIVE = secret('active');
const PREVIOUS = secret('previous');
const STRANGER = secret('stranger');

async function edgeWith(vars: Record<string, string> = {}): Promise<Edge> {
  const edge = createEdge({ env: { ...EDGE_KEYS, ...vars }, now: () => NOW, log: () => {} });
  const response = await putKeyset(edge, await seal(await buildKeyset(2, ACTIVE, [{ secret: PREVIOUS }])));
  expect(response.status).toBe(200);
  return edge;
}

const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  sub: 'user-42',
  iat: epochSeconds(NOW),
  exp: epochSeconds(NOW) + 600,
  ...extra,
});

describe('POST /verify', () => {
  it('accepts tokens signed with jose and by hand, with kid, answering kid and claims', async () => {
    const edge = await edgeWith();
    const kid = await computeKid(ACTIVE);
    for (const token of [
      await signWithJose(ACTIVE, claims(), { kid }),
      await signByHand(ACTIVE, claims(), { alg: 'HS256', kid }),
    ]) {
      const response = await postVerify(edge, token);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ valid: true, kid, claims: claims() });
    }
  });

  it('tries tokens without kid against the active key, then previous keys', async () => {
    const edge = await edgeWith();
    const activeKid = await computeKid(ACTIVE);
    const previousKid = await computeKid(PREVIOUS);
    const viaActive = await postVerify(edge, await signByHand(ACTIVE, claims()));
    expect(await viaActive.json()).toMatchObject({ valid: true, kid: activeKid });
    const viaPrevious = await postVerify(edge, await signWithJose(PREVIOUS, claims()));
    expect(await viaPrevious.json()).toMatchObject({ valid: true, kid: previousKid });
  });

  it('takes the token from Authorization: Bearer as well', async () => {
    const edge = await edgeWith();
    const token = await signByHand(ACTIVE, claims());
    const response = await edge.fetch(
      new Request('http://edge.test/verify', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    expect(response.status).toBe(200);
  });

  it('answers token_missing for no token at all', async () => {
    const edge = await edgeWith();
    const response = await edge.fetch(new Request('http://edge.test/verify', { method: 'POST' }));
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ valid: false, error: 'token_missing' });
    expect(await verifyError(edge, '')).toBe('token_missing');
  });

  it('answers token_malformed for garbage, bad JSON bodies and non-string tokens', async () => {
    const edge = await edgeWith();
    expect(await verifyError(edge, 'not-a-jwt')).toBe('token_malformed');
    expect(await verifyError(edge, 'a.b.c')).toBe('token_malformed');
    const token = await signByHand(ACTIVE, claims());
    expect(await verifyError(edge, `${token}.extra`)).toBe('token_malformed');
    expect(await verifyError(edge, token.replace(/\.[^.]*$/, '.@@@'))).toBe('token_malformed');
    for (const body of ['{not json', '[1]', '{"token": 42}']) {
      const response = await edge.fetch(new Request('http://edge.test/verify', { method: 'POST', body }));
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ valid: false, error: 'token_malformed' });
    }
  });

  it('answers 401 token_malformed (SPEC has no 413 for /verify) for a token over MAX_TOKEN_BYTES, and for an oversized body', async () => {
    const edge = await edgeWith({ MAX_TOKEN_BYTES: '512' });
    const big = await signByHand(ACTIVE, claims({ pad: 'x'.repeat(600) }));
    const response = await postVerify(edge, big);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ valid: false, error: 'token_malformed' });
    const huge = await postVerify(edge, 'x'.repeat(4096));
    expect(huge.status).toBe(401);
    expect(await huge.json()).toEqual({ valid: false, error: 'token_malformed' });
  });

  it('answers token_expired and token_not_yet_valid, honouring CLOCK_TOLERANCE', async () => {
    const edge = await edgeWith({ CLOCK_TOLERANCE: '30s' });
    const now = epochSeconds(NOW);
    expect(await verifyError(edge, await signByHand(ACTIVE, claims({ exp: now - 31 })))).toBe(
      'token_expired',
    );
    expect(await verifyError(edge, await signByHand(ACTIVE, claims({ exp: now - 29 })))).toBeUndefined();
    expect(await verifyError(edge, await signWithJose(ACTIVE, claims({ nbf: now + 31 })))).toBe(
      'token_not_yet_valid',
    );
    expect(await verifyError(edge, await signWithJose(ACTIVE, claims({ nbf: now + 29 })))).toBeUndefined();
  });

  it('answers signature_invalid for a token signed by a key outside the keyset, with no kid', async () => {
    const edge = await edgeWith();
    expect(await verifyError(edge, await signByHand(STRANGER, claims()))).toBe('signature_invalid');
    const kid = await computeKid(ACTIVE);
    // Right kid, wrong key.
    expect(await verifyError(edge, await signWithJose(STRANGER, claims(), { kid }))).toBe(
      'signature_invalid',
    );
  });

  it('answers key_unknown for a kid outside the keyset', async () => {
    const edge = await edgeWith();
    const kid = await computeKid(STRANGER);
    expect(await verifyError(edge, await signWithJose(STRANGER, claims(), { kid }))).toBe('key_unknown');
  });

  it('answers algorithm_not_allowed for alg none, and for HS384 and HS512 (an HS256 key verifies only HS256)', async () => {
    const edge = await edgeWith();
    const kid = await computeKid(ACTIVE);
    expect(await verifyError(edge, unsignedToken(claims()))).toBe('algorithm_not_allowed');
    expect(await verifyError(edge, unsignedToken(claims(), kid))).toBe('algorithm_not_allowed');
    for (const alg of ['HS384', 'HS512'] as const) {
      expect(await verifyError(edge, await signWithJose(ACTIVE, claims(), { alg, kid }))).toBe(
        'algorithm_not_allowed',
      );
      expect(await verifyError(edge, await signWithJose(ACTIVE, claims(), { alg }))).toBe(
        'algorithm_not_allowed',
      );
      expect(await verifyError(edge, await signByHand(ACTIVE, claims(), { alg }))).toBe(
        'algorithm_not_allowed',
      );
    }
    // Narrowed to HS256 alone, the edge still verifies HS256 and refuses the rest.
    const narrow = await edgeWith({ JWT_ALGORITHMS: 'HS256' });
    expect(await verifyError(narrow, await signWithJose(ACTIVE, claims(), { kid }))).toBeUndefined();
    expect(await verifyError(narrow, await signWithJose(ACTIVE, claims(), { alg: 'HS512', kid }))).toBe(
      'algorithm_not_allowed',
    );
  });

  it('answers claim_invalid for a wrong issuer or audience', async () => {
    const edge = await edgeWith({ JWT_ISSUER: 'https://issuer.test', JWT_AUDIENCE: 'api' });
    const good = claims({ iss: 'https://issuer.test', aud: ['web', 'api'] });
    expect(await verifyError(edge, await signByHand(ACTIVE, good))).toBeUndefined();
    expect(await verifyError(edge, await signByHand(ACTIVE, { ...good, iss: 'https://evil.test' }))).toBe(
      'claim_invalid',
    );
    expect(await verifyError(edge, await signWithJose(ACTIVE, { ...good, aud: 'web' }))).toBe(
      'claim_invalid',
    );
    const { iss: _iss, ...noIssuer } = good;
    expect(await verifyError(edge, await signWithJose(ACTIVE, noIssuer))).toBe('claim_invalid');
  });

  it('treats empty JWT_ISSUER and JWT_AUDIENCE as unset', async () => {
    const edge = await edgeWith({ JWT_ISSUER: '', JWT_AUDIENCE: '' });
    expect(await verifyError(edge, await signByHand(ACTIVE, claims({ iss: 'anyone', aud: 'any' })))).toBe(
      undefined,
    );
  });
});

describe('GET /verify (forward auth)', () => {
  it('answers 200 with X-Auth-Subject and X-Auth-Kid', async () => {
    const edge = await edgeWith();
    const response = await getVerify(edge, `Bearer ${await signByHand(PREVIOUS, claims())}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-auth-subject')).toBe('user-42');
    expect(response.headers.get('x-auth-kid')).toBe(await computeKid(PREVIOUS));
  });

  it('answers 401 with SPEC\'s challenge, Bearer error="invalid_token", for bad tokens and for none', async () => {
    const edge = await edgeWith();
    const bad = await getVerify(edge, `Bearer ${await signByHand(STRANGER, claims())}`);
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(bad.headers.get('x-auth-subject')).toBeNull();
    expect(await bad.json()).toEqual({ valid: false, error: 'signature_invalid' });

    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz']) {
      const missing = await getVerify(edge, authorization);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
  });

  it('answers 401 for an oversized token, since proxies read other codes as errors', async () => {
    const edge = await edgeWith({ MAX_TOKEN_BYTES: '256' });
    const response = await getVerify(
      edge,
      `Bearer ${await signByHand(ACTIVE, claims({ pad: 'y'.repeat(300) }))}`,
    );
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('fails closed when sub cannot travel in a header', async () => {
    const edge = await edgeWith();
    const response = await getVerify(
      edge,
      `Bearer ${await signByHand(ACTIVE, claims({ sub: 'a\r\nX-Evil: 1' }))}`,
    );
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ valid: false, error: 'claim_invalid' });
  });
});

describe('without a keyset', () => {
  it('answers 503 keyset_unavailable on /verify and 503 no_keyset on /healthz', async () => {
    const edge = createEdge({ env: { ...EDGE_KEYS }, now: () => NOW, log: () => {} });
    const token = await signByHand(ACTIVE, claims());
    const post = await postVerify(edge, token);
    expect(post.status).toBe(503);
    expect(await post.json()).toEqual({ valid: false, error: 'keyset_unavailable' });
    const get = await getVerify(edge, `Bearer ${token}`);
    expect(get.status).toBe(503);
    const health = await edge.fetch(new Request('http://edge.test/healthz'));
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'no_keyset' });
  });
});

describe('unexpected failures', () => {
  it('uses the injected verify primitive, and turns its failure into a generic 500 without details', async () => {
    const logs: string[] = [];
    const edge = createEdge({
      env: { ...EDGE_KEYS },
      now: () => NOW,
      log: (line) => logs.push(line),
      primitive: {
        name: 'broken',
        importKey: (entry) => entry,
        verify: () => {
          throw new Error('detail that must not leak');
        },
      },
    });
    expect((await putKeyset(edge, await seal(await buildKeyset(1, ACTIVE)))).status).toBe(200);
    const response = await postVerify(edge, await signByHand(ACTIVE, claims()));
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: 'internal_error' });
    expect(text).not.toContain('detail');
    expect(logs).toContain('edge: unexpected error: Error');
  });
});
