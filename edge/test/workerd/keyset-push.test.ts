import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { encodeBase64url } from '../../../shared/base64url.ts';
import { MAX_ENVELOPE_BYTES } from '../../../shared/keyset-envelope.ts';
import { computeKid } from '../../../shared/kid.ts';
import { MANIFEST_TYPE } from '../../../shared/signed-manifest.ts';
import { health, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_KEYSET_KEY,
  KEYSET_KEY_BYTES,
  seal,
  sealWithSpecParametersOnly,
  secret,
  signByHand,
  signManifestOf,
} from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';

const V1 = secret('push-one');
const V2 = secret('push-two');
const V3 = secret('push-three');

function freshEdge(now = () => Date.parse('2026-06-01T00:00:00Z')): Edge {
  return createEdge({ env: { ...EDGE_KEYS }, now, log: () => {} });
}

/** An edge holding version 2, and a check that it still does, whole. */
async function edgeHoldingV2() {
  const edge = freshEdge();
  expect((await putKeyset(edge, await seal(await buildKeyset(2, V2, [{ secret: V1 }])))).status).toBe(200);
  const token = await signByHand(V2, { sub: 'still-works' });
  const unchanged = async () => {
    expect(await health(edge)).toMatchObject({ status: 200, body: { status: 'ok', keyset_version: 2 } });
    expect(await verifyError(edge, token)).toBeUndefined();
  };
  return { edge, unchanged };
}

async function expectPut(edge: Edge, body: BodyInit, status: number, error?: string) {
  const response = await putKeyset(edge, body);
  expect(response.status).toBe(status);
  if (error !== undefined) expect(await response.json()).toMatchObject({ error });
  else await response.body?.cancel();
}

describe('PUT /keyset', () => {
  it('takes a newer version, answers 200 with the version, its kids and the edge clock, and reports it on /healthz', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const edge = freshEdge(() => now);
    const response = await putKeyset(edge, await seal(await buildKeyset(1, V1)));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      version: 1,
      kids: [await computeKid(V1)],
      time: now,
      revocations: 0,
    });
    now += 42_500;
    expect(await health(edge)).toEqual({
      status: 200,
      body: {
        status: 'ok',
        keyset_version: 1,
        keyset_age_s: 42,
        keyset_confirmed_s: null,
        verify_cache: { hits: 0, misses: 0, size: 0 },
        revocation_serial: 0,
      },
    });
    const next = await putKeyset(edge, await seal(await buildKeyset(2, V2, [{ secret: V1 }])));
    expect(await next.json()).toEqual({
      version: 2,
      kids: [await computeKid(V2), await computeKid(V1)],
      time: now,
      revocations: 0,
    });
    expect((await health(edge)).body).toEqual({
      status: 'ok',
      keyset_version: 2,
      keyset_age_s: 0,
      keyset_confirmed_s: null,
      verify_cache: { hits: 0, misses: 0, size: 0 },
      revocation_serial: 0,
    });
  });

  it('answers 401 to the unsigned envelope of SPEC section 5, sealed with the right KEYSET_KEY', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    const unsigned = await sealWithSpecParametersOnly(await buildKeyset(5, V3));
    await expectPut(edge, unsigned, 401, 'envelope_signature_invalid');
    await unchanged();
  });

  it('answers 401 to a bare keyset sealed with the right KEYSET_KEY under cty keyward-keyset+jws', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    const keyset = await buildKeyset(5, V3);
    const bare = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(keyset)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: MANIFEST_TYPE })
      .encrypt(KEYSET_KEY_BYTES);
    await expectPut(edge, bare, 401, 'envelope_signature_invalid');
    // The same keyset signed, as a bare manifest: a secret in clear is refused for that (400), not as unsigned.
    await expectPut(edge, await signManifestOf(keyset), 400, 'envelope_unencrypted');
    await unchanged();
  });

  it('answers 200 for the version it already holds (idempotent re-push)', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    const again = await putKeyset(edge, await seal(await buildKeyset(2, V2, [{ secret: V1 }])));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({
      version: 2,
      kids: [await computeKid(V2), await computeKid(V1)],
      time: Date.parse('2026-06-01T00:00:00Z'),
      revocations: 0,
    });
    await unchanged();
  });

  it('answers 409 to a replayed older version and keeps the held keyset', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    const response = await putKeyset(edge, await seal(await buildKeyset(1, V1)));
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({ error: 'keyset_conflict', version: 2 });
    await unchanged();
  });

  it('answers 401 to a tampered envelope and keeps the held keyset', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    const envelope = await seal(await buildKeyset(3, V3, [{ secret: V2 }]));
    const parts = envelope.split('.');
    const ciphertext = parts[3] as string;
    // Flip one character of the ciphertext: GCM's tag no longer matches.
    parts[3] = (ciphertext[0] === 'A' ? 'B' : 'A') + ciphertext.slice(1);
    await expectPut(edge, parts.join('.'), 401, 'envelope_undecryptable');
    const tag = parts[4] as string;
    parts[3] = ciphertext;
    parts[4] = (tag[0] === 'A' ? 'B' : 'A') + tag.slice(1);
    await expectPut(edge, parts.join('.'), 401, 'envelope_undecryptable');
    await unchanged();
  });

  it('answers 401 to an envelope sealed with a foreign KEYSET_KEY and keeps the held keyset', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    const foreign = await seal(await buildKeyset(9, V3), FOREIGN_KEYSET_KEY);
    await expectPut(edge, foreign, 401, 'envelope_undecryptable');
    await unchanged();
  });

  it('answers 400 to garbage, wrong JWE parameters, non-UTF-8 bodies and invalid keysets', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    await expectPut(edge, '', 400, 'envelope_malformed');
    await expectPut(edge, 'garbage', 400, 'envelope_malformed');
    await expectPut(edge, 'a.b.c.d.e', 400, 'envelope_malformed');
    await expectPut(edge, new Uint8Array([0xff, 0xfe, 0x2e]), 400, 'envelope_malformed');
    const envelope = await seal(await buildKeyset(3, V3));
    const header = encodeBase64url(new TextEncoder().encode('{"alg":"A256KW","enc":"A256GCM"}'));
    await expectPut(edge, [header, ...envelope.split('.').slice(1)].join('.'), 400, 'envelope_malformed');
    // Decrypts, but the keyset inside has two active keys.
    const invalid = await buildKeyset(3, V3, [{ secret: V2 }]);
    (invalid.keys[1] as { status: string }).status = 'active';
    await expectPut(edge, await seal(invalid), 400, 'keyset_invalid');
    await unchanged();
  });

  it('answers 413 to an oversized body, by Content-Length and by actual size, and keeps the held keyset', async () => {
    const { edge, unchanged } = await edgeHoldingV2();
    await expectPut(edge, 'x'.repeat(MAX_ENVELOPE_BYTES + 1), 413, 'envelope_too_large');
    // A stream has no Content-Length: the size is counted as it arrives.
    const chunk = new Uint8Array(16 * 1024).fill(0x41);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_ENVELOPE_BYTES * 2) controller.close();
        else {
          sent += chunk.length;
          controller.enqueue(chunk);
        }
      },
    });
    const response = await edge.fetch(
      new Request('http://edge.test/keyset', { method: 'PUT', body: stream, duplex: 'half' } as RequestInit),
    );
    expect(response.status).toBe(413);
    const lying = await edge.fetch(
      new Request('http://edge.test/keyset', {
        method: 'PUT',
        body: 'tiny',
        headers: { 'content-length': String(MAX_ENVELOPE_BYTES + 1) },
      }),
    );
    expect(lying.status).toBe(413);
    await unchanged();
  });
});
