/**
 * A control plane with no KEYSET_KEY (SPEC section 9: optional while the keyset holds only public keys), as its
 * own process against a real valkey-server, pushing to a Node edge that has none either: the first start
 * generates an EdDSA key, the envelope is the bare signed JWS, tokens an issuer signs with
 * `jwt_secrets:signing_key` verify at the edge, an asymmetric rotation goes through, and a change that would put
 * an HS256 secret in the keyset is refused with FAILED_PRECONDITION naming KEYSET_KEY, changing nothing.
 */
import { status } from '@grpc/grpc-js';
import { Valkey } from 'iovalkey';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlaneProcess, startControlPlaneProcess } from '../support/control-plane-process.ts';
import { edgeVersion, verifyAt } from '../support/edge-http-client.ts';
import { type EdgeProcess, startNodeEdge } from '../support/edge-processes.ts';
import { newKeysetKey } from '../support/sign-token.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';

let valkey: ValkeyServer;
let reader: Valkey;
let edge: EdgeProcess;
let controlPlane: ControlPlaneProcess;

/** A token signed as an issuer signs it: with whatever `jwt_secrets:signing_key` holds now. */
async function issuerToken(sub: string): Promise<{ token: string; kid: string; alg: string }> {
  const jwk = JSON.parse((await reader.get('jwt_secrets:signing_key')) as string);
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub, iat: now, exp: now + 600 })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .sign(await importJWK(jwk, jwk.alg));
  return { token, kid: jwk.kid, alg: jwk.alg };
}

beforeAll(async () => {
  valkey = await startValkey();
  reader = new Valkey(valkey.url, { maxRetriesPerRequest: 1 });
  edge = await startNodeEdge({});
  controlPlane = await startControlPlaneProcess({
    valkeyUrl: valkey.url,
    edgeUrls: [edge.url],
    gracePeriod: '24h',
  });
}, 60_000);

afterAll(async () => {
  await controlPlane?.stop();
  await edge?.stop();
  reader?.disconnect();
  await valkey?.stop();
});

describe('a control plane without KEYSET_KEY', () => {
  it('starts on an empty Valkey with an EdDSA key, sealed as the bare signed JWS, and the edge verifies', async () => {
    const envelope = (await reader.get('jwt_secrets:keyset')) as string;
    expect(envelope.split('.')).toHaveLength(3);
    expect(await reader.get('jwt_secrets:active')).toBeNull();
    const { token, kid, alg } = await issuerToken('first');
    expect(alg).toBe('EdDSA');
    expect(await edgeVersion(edge.url)).toBe(1);
    expect(await verifyAt(edge.url, token)).toMatchObject({ status: 200, body: { valid: true, kid } });
  });

  it('refuses an HS256 rotation with FAILED_PRECONDITION naming KEYSET_KEY, and changes nothing', async () => {
    const before = await reader.get('jwt_secrets:keyset');
    for (const request of [{ generate: true }, { new_secret: 'a-secret-of-more-than-32-bytes-'.repeat(2) }]) {
      const refusal = await controlPlane.rotate(request).catch((error: unknown) => error);
      expect(refusal).toMatchObject({ code: status.FAILED_PRECONDITION });
      expect((refusal as { details: string }).details).toContain('KEYSET_KEY');
    }
    expect(await reader.get('jwt_secrets:keyset')).toBe(before);
    expect(await edgeVersion(edge.url)).toBe(1);
  });

  it('rotates to an ES256 key: the edge confirms it and verifies the issuer’s new tokens', async () => {
    const answer = await controlPlane.rotate({ alg: 'ES256', generate: true });
    expect(answer.success).toBe(true);
    expect((await reader.get('jwt_secrets:keyset'))?.split('.')).toHaveLength(3);
    expect(await edgeVersion(edge.url)).toBe(2);
    const { token, kid, alg } = await issuerToken('second');
    expect(alg).toBe('ES256');
    expect(await verifyAt(edge.url, token)).toMatchObject({ status: 200, body: { valid: true, kid } });
  });

  it('will not start over a stored keyset that holds a secret, naming KEYSET_KEY', async () => {
    const other = await startValkey();
    try {
      const withKey = await startControlPlaneProcess({
        valkeyUrl: other.url,
        keysetKey: newKeysetKey(),
        edgeUrls: [],
        gracePeriod: '24h',
      });
      await withKey.stop();
      const refusal = await startControlPlaneProcess({
        valkeyUrl: other.url,
        edgeUrls: [],
        gracePeriod: '24h',
      }).then(
        async (started) => {
          await started.stop();
          return undefined;
        },
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(Error);
      expect((refusal as Error).message).toContain('KEYSET_KEY');
    } finally {
      await other.stop();
    }
  });
});
