/**
 * SPEC section 9 at the edge, under workerd: only keysets signed by KEYSET_VERIFY_KEY are taken, whoever
 * encrypted them; secrets never arrive in clear; two keys each while one is replaced.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { health, putKeyset, verifyError } from '../../../test/support/edge-requests.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  FOREIGN_KEYSET_KEY,
  FOREIGN_SIGNING_KEY,
  FOREIGN_VERIFY_KEY,
  KEYSET_KEY,
  KEYSET_VERIFY_KEY,
  seal,
  secret,
  signByHand,
  signManifestOf,
} from '../../../test/support/keysets.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import type { EdgeEnv } from '../../src/env.ts';
import worker from '../../src/runtime/worker.ts';

const OLD = secret('signed-old');
const NEW = secret('signed-new');

function edgeWith(vars: EdgeEnv = EDGE_KEYS): Edge {
  return createEdge({ env: vars, now: () => Date.parse('2026-06-01T00:00:00Z'), log: () => {} });
}

async function putAnswer(edge: Edge, body: string) {
  const response = await putKeyset(edge, body);
  return { status: response.status, body: await response.json() };
}

/** An edge holding version 2 (signed by the control plane), and a check that it still does. */
async function holdingV2(vars: EdgeEnv = EDGE_KEYS) {
  const edge = edgeWith(vars);
  expect(await putAnswer(edge, await seal(await buildKeyset(2, OLD)))).toMatchObject({
    status: 200,
    body: { version: 2 },
  });
  const token = await signByHand(OLD, { sub: 'held' });
  return {
    edge,
    async unchanged() {
      expect((await health(edge)).body).toMatchObject({ keyset_version: 2 });
      expect(await verifyError(edge, token)).toBeUndefined();
      expect(await verifyError(edge, await signByHand(NEW, { sub: 'attacker' }))).toBe('signature_invalid');
    },
  };
}

describe('an edge takes only keysets signed by KEYSET_VERIFY_KEY (SPEC section 9)', () => {
  it('refuses with 401 a keyset sealed with the right KEYSET_KEY but signed by another key', async () => {
    const { edge, unchanged } = await holdingV2();
    const forged = await seal(await buildKeyset(99, NEW), KEYSET_KEY, FOREIGN_SIGNING_KEY);
    expect(await putAnswer(edge, forged)).toEqual({
      status: 401,
      body: { error: 'envelope_signature_invalid' },
    });
    await unchanged();
  });

  it('refuses with 400 a bare signed manifest that carries an HS256 secret, even signed by the right key', async () => {
    const { edge, unchanged } = await holdingV2();
    const bare = await signManifestOf(await buildKeyset(3, NEW));
    expect(await putAnswer(edge, bare)).toEqual({ status: 400, body: { error: 'envelope_unencrypted' } });
    // The same, signed by another key: refused as unsigned before anything in it is looked at.
    const foreign = await signManifestOf(await buildKeyset(3, NEW), FOREIGN_SIGNING_KEY);
    expect(await putAnswer(edge, foreign)).toEqual({
      status: 401,
      body: { error: 'envelope_signature_invalid' },
    });
    await unchanged();
  });

  it('takes keysets signed by either of two verify keys and sealed under either of two KEYSET_KEYs', async () => {
    const both = {
      KEYSET_KEY: `${KEYSET_KEY},${FOREIGN_KEYSET_KEY}`,
      KEYSET_VERIFY_KEY: `${KEYSET_VERIFY_KEY},${FOREIGN_VERIFY_KEY}`,
    };
    const { edge } = await holdingV2(both);
    const next = await seal(
      await buildKeyset(3, NEW, [{ secret: OLD }]),
      FOREIGN_KEYSET_KEY,
      FOREIGN_SIGNING_KEY,
    );
    expect(await putAnswer(edge, next)).toMatchObject({ status: 200, body: { version: 3 } });
    expect(await verifyError(edge, await signByHand(NEW, { sub: 'x' }))).toBeUndefined();
    // Once the old verify key is dropped, its signature no longer counts.
    const newOnly = edgeWith({ KEYSET_KEY, KEYSET_VERIFY_KEY: FOREIGN_VERIFY_KEY });
    expect(await putAnswer(newOnly, await seal(await buildKeyset(4, NEW)))).toEqual({
      status: 401,
      body: { error: 'envelope_signature_invalid' },
    });
  });

  it('starts without KEYSET_KEY and refuses every encrypted keyset as undecryptable', async () => {
    const edge = edgeWith({ KEYSET_VERIFY_KEY });
    expect((await health(edge)).status).toBe(503);
    expect(await putAnswer(edge, await seal(await buildKeyset(1, OLD)))).toEqual({
      status: 401,
      body: { error: 'envelope_undecryptable' },
    });
  });

  it('refuses, through the Worker entry, to serve without KEYSET_VERIFY_KEY (500 config_invalid)', async () => {
    const { KEYSET_VERIFY_KEY: _dropped, ...withoutVerifyKey } = env as unknown as Record<string, unknown>;
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request('http://edge.test/healthz') as never,
      withoutVerifyKey as never,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'config_invalid' });
  });
});
