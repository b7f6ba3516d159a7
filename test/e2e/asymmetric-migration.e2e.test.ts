/**
 * End to end, the README's "Moving from HS256 to ES256 or EdDSA": a seed deployment (a legacy secret in
 * `jwt_secrets:active`, a real valkey-server) stages an EdDSA key, promotes it once the Node and Bun edges hold
 * it, keeps the HS256 tokens legacy issuers mint verifying through the grace period, then drops the HS256 key,
 * after which a new edge runs with no KEYSET_KEY at all. At each step it checks what an issuer reading
 * `jwt_secrets:signing_key` or `jwt_secrets:active` sees, and what a third party's JWKS client verifies.
 */
import { credentials } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { createRemoteJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectSecretService,
  type SecretServiceConnection,
} from '../../control-plane/src/grpc/secret-service-client.ts';
import { computeKid } from '../../shared/kid.ts';
import { type Harness, startHarness } from '../support/control-plane-harness.ts';
import { edgeVersion, verifyAt } from '../support/edge-http-client.ts';
import { type EdgeProcess, startBunEdge, startNodeEdge } from '../support/edge-processes.ts';
import { newKeysetKey, newSecret, signToken } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitFor } from '../support/wait-for.ts';

const DEADLINE = { deadlineMs: 15_000 };

let valkey: ValkeyServer;
let reader: Valkey;
let harness: Harness;
let client: SecretServiceConnection;
let edges: EdgeProcess[] = [];
const keysetKey = newKeysetKey();
const legacySecret = newSecret();

async function expectEveryEdge(token: string, expected: { valid: boolean; kid?: string }): Promise<void> {
  for (const edge of edges) {
    const answer = await verifyAt(edge.url, token);
    expect({ runtime: edge.runtime, status: answer.status, valid: answer.body.valid }).toEqual({
      runtime: edge.runtime,
      status: expected.valid ? 200 : 401,
      valid: expected.valid,
    });
    if (expected.kid !== undefined) expect(answer.body.kid).toBe(expected.kid);
  }
}

/** A token signed the way an issuer does it: with whatever `jwt_secrets:signing_key` holds right now. */
async function signWithSigningKey(sub: string): Promise<{ token: string; kid: string; alg: string }> {
  const jwk = JSON.parse((await reader.get('jwt_secrets:signing_key')) as string);
  const key = await importJWK(jwk, jwk.alg);
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub, iat: now, exp: now + 600 })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .sign(key);
  return { token, kid: jwk.kid, alg: jwk.alg };
}

beforeAll(async () => {
  valkey = await startValkey();
  reader = new Valkey(valkey.url, { maxRetriesPerRequest: 1 });
  // The seed's deployment guide: the secret set by hand before Keyward ever ran.
  await reader.set('jwt_secrets:active', legacySecret);
  edges = await Promise.all([startNodeEdge({ keysetKey }), startBunEdge({ keysetKey })]);
  harness = await startHarness({
    valkeyUrl: valkey.url,
    keysetKey,
    edgeUrls: edges.map((edge) => edge.url),
    gracePeriod: '24h',
  });
  client = connectSecretService(harness.grpcAddress, credentials.createInsecure());
  for (const edge of edges) {
    await waitFor(async () => ((await edgeVersion(edge.url)) >= 1 ? true : undefined), {
      what: `the ${edge.runtime} edge to hold the first keyset`,
      timeoutMs: 15_000,
      intervalMs: 50,
    });
  }
}, 120_000);

afterAll(async () => {
  client?.close();
  await harness?.stop();
  for (const edge of edges) await edge.stop().catch(() => {});
  reader?.disconnect();
  await valkey?.stop();
});

describe('moving a seed deployment from HS256 to EdDSA', () => {
  it('stages, promotes, keeps legacy HS256 tokens through grace, drops HS256, and ends with edges holding no secret', async () => {
    const admin_token = harness.adminToken;
    const legacyKid = await computeKid(legacySecret);
    const legacyWithoutKid = signToken(legacySecret, undefined, { sub: 'legacy' });
    const legacyWithKid = signToken(legacySecret, legacyKid, { sub: 'legacy' });

    // Step 0: the seed. signing_key holds the same secret as a JWK.
    await expectEveryEdge(legacyWithoutKid, { valid: true, kid: legacyKid });
    expect(JSON.parse((await reader.get('jwt_secrets:signing_key')) as string)).toMatchObject({
      kty: 'oct',
      alg: 'HS256',
      kid: legacyKid,
    });

    // Step 1: stage. Every edge holds the standby key; nothing an issuer reads changes.
    const staged = await client.stageKey({ admin_token, alg: 'EdDSA', new_secret: '' }, DEADLINE);
    expect(staged.success).toBe(true);
    expect(staged.edges.map((edge) => edge.confirmed)).toEqual([true, true]);
    expect(await reader.get('jwt_secrets:active')).toBe(legacySecret);
    expect(JSON.parse((await reader.get('jwt_secrets:signing_key')) as string).kid).toBe(legacyKid);
    const published = await (await fetch(`${harness.httpUrl}/.well-known/jwks.json`)).json();
    expect(published.keys.map((key: { kid: string }) => key.kid)).toEqual([staged.kid]);
    expect(JSON.stringify(published)).not.toContain('"d"');
    await expectEveryEdge(legacyWithKid, { valid: true, kid: legacyKid });

    // Step 3: promote. Issuers reading signing_key now sign EdDSA, and those tokens verify everywhere at once.
    const promoted = await client.promoteKey(
      { admin_token, kid: staged.kid, force: false, emergency: false },
      DEADLINE,
    );
    expect(promoted.success).toBe(true);
    expect(promoted.edges.map((edge) => edge.confirmed)).toEqual([true, true]);
    const issued = await signWithSigningKey('new-issuer');
    expect(issued).toMatchObject({ alg: 'EdDSA', kid: staged.kid });
    await expectEveryEdge(issued.token, { valid: true, kid: staged.kid });
    // A third party verifies it with the JWK Set alone.
    const remote = createRemoteJWKSet(new URL(`${harness.httpUrl}/.well-known/jwks.json`));
    expect((await jwtVerify(issued.token, remote)).payload.sub).toBe('new-issuer');
    // Legacy issuers still read the HS256 secret, now previous: what they mint verifies through the grace period.
    expect(await reader.get('jwt_secrets:active')).toBe(legacySecret);
    const mintedAfterPromotion = signToken(legacySecret, undefined, { sub: 'late-legacy' });
    await expectEveryEdge(mintedAfterPromotion, { valid: true, kid: legacyKid });
    await expectEveryEdge(legacyWithKid, { valid: true, kid: legacyKid });
    // An HS256 token under the EdDSA key's kid is refused: that key verifies EdDSA only.
    await expectEveryEdge(signToken(legacySecret, staged.kid), { valid: false });

    // Step 4: the HS256 key goes (here at once, as `keyward revoke` ends a grace period early).
    const revoked = await client.revokeKey({ admin_token, kid: legacyKid }, DEADLINE);
    expect(revoked.success).toBe(true);
    expect(await reader.get('jwt_secrets:active')).toBeNull();
    await expectEveryEdge(legacyWithKid, { valid: false });
    await expectEveryEdge(mintedAfterPromotion, { valid: false });
    await expectEveryEdge(issued.token, { valid: true, kid: staged.kid });
    // The envelope now holds no secret: a bare signed JWS, in Valkey and on the control plane's GET /keyset.
    expect(((await reader.get('jwt_secrets:keyset')) as string).split('.')).toHaveLength(3);
    expect((await harness.fetchEnvelope()).split('.')).toHaveLength(3);

    // An edge deployed now needs no KEYSET_KEY: it pulls the keyset and verifies.
    const keyless = await startNodeEdge({ keysetUrl: harness.keysetUrl });
    try {
      const answer = await verifyAt(keyless.url, issued.token);
      expect({ status: answer.status, kid: answer.body.kid }).toEqual({ status: 200, kid: staged.kid });
      expect((await verifyAt(keyless.url, legacyWithKid)).status).toBe(401);
    } finally {
      await keyless.stop();
    }
  }, 120_000);
});
