/**
 * Token revocation at the edge under workerd (SPEC section 8): PUT /revocations takes a signed list (a snapshot or
 * a delta from the held serial), and every valid verdict, cached or fresh, is then checked against it. Lists that
 * are not the control plane's, or do not follow what the edge holds, are refused and change nothing.
 */
import { describe, expect, it } from 'vitest';
import { importSigner } from '../../../shared/keyset-signing-key.ts';
import { MAX_REVOCATIONS_BYTES, REVOCATIONS_TYPE, revocationListJson } from '../../../shared/revocations.ts';
import { MANIFEST_TYPE, signManifest } from '../../../shared/signed-manifest.ts';
import {
  getVerify,
  health,
  postVerify,
  putKeyset,
  putRevocations,
} from '../../../test/support/edge-requests.ts';
import { KeysetOrigin } from '../../../test/support/keyset-origin.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  FOREIGN_SIGNING_KEY,
  KEYSET_SIGNING_SEED,
  seal,
  secret,
  signByHand,
  signManifestOf,
} from '../../../test/support/keysets.ts';
import { parseExposition, sampleValue } from '../../../test/support/prometheus-text.ts';
import { revocationBatch, revocationList, signRevocations } from '../../../test/support/revocation-lists.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';
import type { EdgeEnv } from '../../src/env.ts';

/** The test control plane's signer (KEYSET_SIGNING_KEY). */
const signer = () => importSigner(KEYSET_SIGNING_SEED);

const START = Date.parse('2026-06-01T12:00:00Z');
const ACTIVE = secret('revocations-active');

async function edgeHoldingKeyset(clock: { now: number }, vars: EdgeEnv = {}): Promise<Edge> {
  const edge = createEdge({
    env: { ...EDGE_KEYS, EDGE_METRICS: 'on', ...vars },
    now: () => clock.now,
    log: () => {},
  });
  expect((await putKeyset(edge, await seal(await buildKeyset(1, ACTIVE)))).status).toBe(200);
  return edge;
}

/** A token of `sub` issued `ageS` seconds before `now`, with `jti`. */
function token(now: number, sub: string, jti: string, ageS = 60): Promise<string> {
  return signByHand(ACTIVE, { sub, jti, iat: epochSeconds(now) - ageS, exp: epochSeconds(now) + 3600 });
}

/** What POST and GET /verify say of `jwt`: undefined when valid, else the error (both must agree). */
async function verdict(edge: Edge, jwt: string): Promise<string | undefined> {
  const post = await postVerify(edge, jwt);
  const postBody = (await post.json()) as { valid: boolean; error?: string };
  const get = await getVerify(edge, `Bearer ${jwt}`);
  const getBody = (await get.json()) as { valid: boolean; error?: string };
  expect(getBody).toEqual(postBody);
  if (postBody.valid) {
    expect([post.status, get.status]).toEqual([200, 200]);
    return undefined;
  }
  expect([post.status, get.status]).toEqual([401, 401]);
  expect(get.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  return postBody.error;
}

async function put(edge: Edge, body: BodyInit): Promise<{ status: number; body: unknown }> {
  const response = await putRevocations(edge, body);
  return { status: response.status, body: await response.json() };
}

async function metric(edge: Edge, name: string, labels: Record<string, string> = {}) {
  const response = await edge.fetch(new Request('http://edge.test/metrics'));
  return sampleValue(parseExposition(await response.text()), name, labels);
}

describe('PUT /revocations and /verify', () => {
  it('refuses a revoked jti and the earlier tokens of a revoked subject, on POST and GET /verify', async () => {
    const clock = { now: START };
    const edge = await edgeHoldingKeyset(clock);
    const stolen = await token(clock.now, 'alice', 'jti-stolen');
    const bobEarlier = await token(clock.now, 'bob', 'jti-bob-1');
    const other = await token(clock.now, 'carol', 'jti-carol');
    for (const jwt of [stolen, bobEarlier, other]) expect(await verdict(edge, jwt)).toBeUndefined();

    const list = revocationList(0, [revocationBatch(1, clock.now, { jti: ['jti-stolen'], sub: ['bob'] })]);
    expect(await put(edge, await signRevocations(list))).toEqual({ status: 200, body: { serial: 1 } });

    expect(await verdict(edge, stolen)).toBe('token_revoked');
    expect(await verdict(edge, bobEarlier)).toBe('token_revoked');
    // A token bob is issued after the call, and everyone else's, still verify.
    clock.now += 5_000;
    expect(await verdict(edge, await token(clock.now, 'bob', 'jti-bob-2', 0))).toBeUndefined();
    expect(await verdict(edge, other)).toBeUndefined();
    expect(await verdict(edge, await token(clock.now, 'alice', 'jti-alice-new'))).toBeUndefined();

    // A delta adds to it.
    const delta = revocationList(1, [revocationBatch(2, clock.now, { jti: ['jti-carol'] })]);
    expect(await put(edge, await signRevocations(delta))).toEqual({ status: 200, body: { serial: 2 } });
    // The same delta again is held: 200 with the same serial.
    expect(await put(edge, await signRevocations(delta))).toEqual({ status: 200, body: { serial: 2 } });
    expect(await verdict(edge, other)).toBe('token_revoked');
    expect(await verdict(edge, stolen)).toBe('token_revoked');

    expect(await health(edge)).toMatchObject({ status: 200, body: { status: 'ok', revocation_serial: 2 } });
    expect(await metric(edge, 'keyward_edge_revocation_serial')).toBe(2);
    expect(await metric(edge, 'keyward_edge_revocations')).toBe(3);
    expect(await metric(edge, 'keyward_edge_revocation_pushes_total', { outcome: 'taken' })).toBe(2);
    expect(await metric(edge, 'keyward_edge_revocation_pushes_total', { outcome: 'held' })).toBe(1);
    expect(await metric(edge, 'keyward_edge_verify_total', { outcome: 'token_revoked' })).toBeGreaterThan(0);
    // PUT /keyset tells the control plane the held serial too.
    const again = await putKeyset(edge, await seal(await buildKeyset(1, ACTIVE)));
    expect(await again.json()).toMatchObject({ version: 1, revocations: 2 });
  });

  it('with the verified-token cache on, refuses a token it verified and cached before the revocation', async () => {
    const clock = { now: START };
    const edge = await edgeHoldingKeyset(clock, { VERIFY_CACHE_SIZE: '100' });
    const cached = await token(clock.now, 'dave', 'jti-cached');
    expect(await verdict(edge, cached)).toBeUndefined();
    expect(await verdict(edge, cached)).toBeUndefined();
    const before = (await health(edge)).body.verify_cache as { hits: number };
    expect(before.hits).toBeGreaterThan(0);

    const list = revocationList(0, [revocationBatch(1, clock.now, { jti: ['jti-cached'] })]);
    expect((await put(edge, await signRevocations(list))).status).toBe(200);
    expect(await verdict(edge, cached)).toBe('token_revoked');
    // It was the cache that answered (a hit), and the revocation that refused it.
    const after = (await health(edge)).body.verify_cache as { hits: number };
    expect(after.hits).toBeGreaterThan(before.hits);

    // By subject too.
    const bySubject = await token(clock.now, 'erin', 'jti-erin');
    expect(await verdict(edge, bySubject)).toBeUndefined();
    const delta = revocationList(1, [revocationBatch(2, clock.now, { sub: ['erin'] })]);
    expect((await put(edge, await signRevocations(delta))).status).toBe(200);
    expect(await verdict(edge, bySubject)).toBe('token_revoked');
  });

  it('lets a revocation lapse when it expires', async () => {
    const clock = { now: START };
    const edge = await edgeHoldingKeyset(clock);
    const jwt = await token(clock.now, 'frank', 'jti-frank');
    const list = revocationList(0, [
      revocationBatch(1, clock.now, { jti: ['jti-frank'], expires: clock.now + 60_000 }),
    ]);
    expect((await put(edge, await signRevocations(list))).status).toBe(200);
    expect(await verdict(edge, jwt)).toBe('token_revoked');
    clock.now += 60_000;
    expect(await verdict(edge, jwt)).toBeUndefined();
    expect(await metric(edge, 'keyward_edge_revocations')).toBe(0);
  });
});

describe('PUT /revocations refuses what is not a list that follows the held one, changing nothing', () => {
  /** An edge holding serial 3 (jti "held-3"), and a check that it still does. */
  async function holdingSerial3() {
    const clock = { now: START };
    const edge = await edgeHoldingKeyset(clock);
    const list = revocationList(0, [
      revocationBatch(2, clock.now, { jti: ['held-2'] }),
      revocationBatch(3, clock.now, { jti: ['held-3'] }),
    ]);
    expect(await put(edge, await signRevocations(list))).toEqual({ status: 200, body: { serial: 3 } });
    const held = await token(clock.now, 'u', 'held-3');
    const free = await token(clock.now, 'u', 'attacker-wants-this-revoked');
    return {
      edge,
      now: clock.now,
      async unchanged() {
        expect((await health(edge)).body).toMatchObject({ revocation_serial: 3 });
        expect(await verdict(edge, held)).toBe('token_revoked');
        expect(await verdict(edge, free)).toBeUndefined();
      },
    };
  }
  const attack = (at: number, serial = 4, from = 0) =>
    revocationList(from, [revocationBatch(serial, at, { jti: ['attacker-wants-this-revoked'] })]);

  it('401 for a list signed by another key, a keyset manifest, or no signature', async () => {
    const { edge, now, unchanged } = await holdingSerial3();
    const forged = await signRevocations(attack(now), FOREIGN_SIGNING_KEY);
    const manifest = await signManifestOf(await buildKeyset(9, ACTIVE));
    const [header, payload] = (await signRevocations(attack(now))).split('.');
    // The list itself, signed by the right key but as a keyset manifest: the wrong kind of document.
    const asManifest = await signManifest(revocationListJson(attack(now)), await signer(), MANIFEST_TYPE);
    for (const body of [forged, manifest, `${header}.${payload}.`, asManifest]) {
      expect(await put(edge, body)).toEqual({ status: 401, body: { error: 'envelope_signature_invalid' } });
    }
    await unchanged();
    expect(
      await metric(edge, 'keyward_edge_revocation_pushes_total', { outcome: 'envelope_signature_invalid' }),
    ).toBe(4);
  });

  it('400 for a body that is not a compact JWS, not UTF-8, or signed but not a list', async () => {
    const { edge, now, unchanged } = await holdingSerial3();
    for (const body of ['not a jws', '', 'a.b.c.d.e']) {
      expect(await put(edge, body)).toEqual({ status: 400, body: { error: 'envelope_malformed' } });
    }
    expect(await put(edge, new Uint8Array([0x65, 0x79, 0xff, 0xfe]))).toEqual({
      status: 400,
      body: { error: 'envelope_malformed' },
    });
    const notAList = await signManifest(
      JSON.stringify({ ...attack(now), from: 9 }),
      await signer(),
      REVOCATIONS_TYPE,
    );
    expect(await put(edge, notAList)).toEqual({ status: 400, body: { error: 'revocations_invalid' } });
    await unchanged();
  });

  it('413 for a body larger than the limit', async () => {
    const { edge, unchanged } = await holdingSerial3();
    expect(await put(edge, 'a'.repeat(MAX_REVOCATIONS_BYTES + 1))).toEqual({
      status: 413,
      body: { error: 'revocations_too_large' },
    });
    await unchanged();
  });

  it('409 with the held serial for a delta that starts above it, or a snapshot older than it', async () => {
    const { edge, now, unchanged } = await holdingSerial3();
    expect(await put(edge, await signRevocations(attack(now, 6, 5)))).toEqual({
      status: 409,
      body: { error: 'revocations_behind', serial: 3 },
    });
    expect(await put(edge, await signRevocations(attack(now, 2, 0)))).toEqual({
      status: 409,
      body: { error: 'revocations_conflict', serial: 3 },
    });
    await unchanged();
    expect(
      await metric(edge, 'keyward_edge_revocation_pushes_total', { outcome: 'revocations_behind' }),
    ).toBe(1);
  });
});

describe('pulling the revocation list beside KEYSET_URL', () => {
  it('asks GET /revocations?since=<held> with every keyset pull, and takes what is newer', async () => {
    const clock = { now: START };
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, ACTIVE)));
    const revoked = await token(clock.now, 'gina', 'jti-gina');
    const later = await token(clock.now, 'hank', 'jti-hank');
    origin.revocations = {
      serial: 1,
      document: await signRevocations(
        revocationList(0, [revocationBatch(1, clock.now, { jti: ['jti-gina'] })]),
      ),
    };
    const edge = createEdge({
      env: { ...EDGE_KEYS, KEYSET_URL: 'http://cp.test/keyset', KEYSET_REVALIDATE: '30s' },
      now: () => clock.now,
      fetch: origin.fetch,
      log: () => {},
      locationCache: null,
    });
    // The cold pull: keyset and revocations both, before the first answer.
    expect(await verdict(edge, revoked)).toBe('token_revoked');
    expect(await verdict(edge, later)).toBeUndefined();
    expect(origin.revocationRequests).toEqual(['http://cp.test/revocations?since=0']);

    origin.revocations = {
      serial: 2,
      document: await signRevocations(
        revocationList(1, [revocationBatch(2, clock.now, { jti: ['jti-hank'] })]),
      ),
    };
    clock.now += 30_000;
    const report = await edge.refresh('revalidate');
    expect(report.failures).toEqual([]);
    expect(origin.revocationRequests.at(-1)).toBe('http://cp.test/revocations?since=1');
    expect(await verdict(edge, later)).toBe('token_revoked');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 2 });
    // Nothing newer: a 304, nothing changes.
    await edge.refresh('scheduled');
    expect(origin.revocationRequests.at(-1)).toBe('http://cp.test/revocations?since=2');
    expect((await health(edge)).body).toMatchObject({ revocation_serial: 2 });
  });

  it('a list from the origin that does not open is a failed pull: logged, counted, nothing taken', async () => {
    const clock = { now: START };
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, ACTIVE)));
    origin.revocations = {
      serial: 1,
      document: await signRevocations(
        revocationList(0, [revocationBatch(1, clock.now, { jti: ['jti-x'] })]),
        FOREIGN_SIGNING_KEY,
      ),
    };
    const logs: string[] = [];
    const edge = createEdge({
      env: { ...EDGE_KEYS, KEYSET_URL: 'http://cp.test/keyset', EDGE_METRICS: 'on' },
      now: () => clock.now,
      fetch: origin.fetch,
      log: (line) => logs.push(line),
      locationCache: null,
    });
    const report = await edge.refresh('scheduled');
    expect(report).toMatchObject({ taken: true, version: 1, failures: [] });
    expect(await verdict(edge, await token(clock.now, 'x', 'jti-x'))).toBeUndefined();
    expect(logs).toEqual([
      expect.stringMatching(
        /^revocations: pull \(scheduled\) failed: KEYSET_URL: envelope_signature_invalid: /,
      ),
    ]);
    expect(
      await metric(edge, 'keyward_edge_revocation_pulls_total', { source: 'KEYSET_URL', outcome: 'failed' }),
    ).toBe(1);
  });
});
