/**
 * End to end, a scheduled rotation through a standby key, driven by a fake clock (the control plane's one clock)
 * over a real valkey-server and real Node and Bun edge processes, with one EDGE_URLS target down: the next EdDSA
 * key is staged ROTATION_LEAD before it is due; at the due time its promotion is blocked by the edge that is down
 * (logged, in /metrics, /healthz and `keyward status`) while the active key keeps signing; the edge comes back,
 * the next try promotes, and tokens of the new key, signed from `jwt_secrets:signing_key` as an issuer signs,
 * verify at every edge on the first request.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Valkey } from 'iovalkey';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../control-plane/src/audit/audit-entry.ts';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { edgeVersion, verifyAt } from '../support/edge-http-client.ts';
import { type EdgeProcess, ROOT, startBunEdge, startNodeEdge } from '../support/edge-processes.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { freePort } from '../support/free-port.ts';
import { KEYSET_KEY } from '../support/keysets.ts';
import {
  metricValue,
  type ScheduledControlPlane,
  startScheduledControlPlane,
} from '../support/scheduled-control-plane.ts';
import { startValkey, type ValkeyServer } from '../support/valkey-server.ts';
import { waitFor } from '../support/wait-for.ts';

const HOUR = 3_600_000;
const T0 = new Date('2031-03-01T00:00:00.000Z');
const DUE = new Date(T0.getTime() + 90 * 24 * HOUR);
const STAGE_AT = new Date(DUE.getTime() - HOUR);
const RETRY_MS = 30_000;

let valkey: ValkeyServer;
let reader: Valkey;
let cp: ScheduledControlPlane;
const clock = new FakeClock(T0);
const edges: EdgeProcess[] = [];
let downPort: number;
let downUrl: string;
let firstKid: string;
let stagedKid: string;

/** `npx keyward status` as an operator runs it against this control plane. */
async function keywardStatus(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'control-plane/src/cli.ts'), 'status'],
    {
      cwd: ROOT,
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ADMIN_TOKEN: cp.adminToken,
        KEYWARD_ADDRESS: cp.grpcAddress,
      },
    },
  );
  return stdout;
}

/** A token signed as an issuer signs: with whatever `jwt_secrets:signing_key` holds now (`kid: false`: no kid). */
async function issue(sub: string, options: { kid?: boolean } = {}): Promise<{ token: string; kid: string }> {
  const jwk = JSON.parse((await reader.get(VALKEY_KEYS.signingKey)) as string);
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sub, iat: now, exp: now + 600 })
    .setProtectedHeader(options.kid === false ? { alg: jwk.alg } : { alg: jwk.alg, kid: jwk.kid })
    .sign(await importJWK(jwk, jwk.alg));
  return { token, kid: jwk.kid };
}

/** Each edge's answer to its first request with `token`. */
async function answers(token: string): Promise<Array<{ runtime: string; status: number; body: unknown }>> {
  const all = [];
  for (const edge of edges) {
    const { status, body } = await verifyAt(edge.url, token);
    all.push({ runtime: edge.runtime, status, body });
  }
  return all;
}

async function jwksKids(edge: EdgeProcess): Promise<string[]> {
  const response = await fetch(`${edge.url}/.well-known/jwks.json`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { keys?: Array<{ kid: string }> };
  return (body.keys ?? []).map((key) => key.kid);
}

beforeAll(async () => {
  valkey = await startValkey();
  reader = new Valkey(valkey.url, { maxRetriesPerRequest: 1 });
  edges.push(
    ...(await Promise.all([
      startNodeEdge({ keysetKey: KEYSET_KEY }),
      startBunEdge({ keysetKey: KEYSET_KEY }),
    ])),
  );
  downPort = await freePort();
  downUrl = `http://127.0.0.1:${downPort}`;
  cp = await startScheduledControlPlane({
    clock,
    valkeyUrl: valkey.url,
    edgeUrls: [...edges.map((edge) => edge.url), downUrl],
    interval: '90d',
    lead: '1h',
  });
  // An EdDSA deployment: its scheduled rotations generate EdDSA keys.
  const rotated = await cp.client.rotateSecret({ admin_token: cp.adminToken, alg: 'EdDSA', generate: true });
  firstKid = rotated.kid;
  for (const edge of edges) {
    await waitFor(async () => ((await edgeVersion(edge.url)) >= rotated.version ? true : undefined), {
      what: `the ${edge.runtime} edge to hold the EdDSA keyset`,
      timeoutMs: 15_000,
      intervalMs: 50,
    });
  }
}, 120_000);

afterAll(async () => {
  await cp?.stop();
  await Promise.all(edges.map((edge) => edge.stop()));
  reader?.disconnect();
  await valkey?.stop();
});

describe('scheduled rotation with one edge down (real Valkey, Node and Bun edges, a fake clock)', () => {
  it('says when the next key will be staged and when it is due', async () => {
    expect(await keywardStatus()).toContain(
      `schedule idle: next key staged at ${STAGE_AT.toISOString()}, active from ${DUE.toISOString()}`,
    );
    expect((await cp.httpJson('/healthz')).body.rotation).toEqual({
      phase: 'idle',
      standby_kid: null,
      staged_at: null,
      stage_at: STAGE_AT.toISOString(),
      due_at: DUE.toISOString(),
      unconfirmed_edges: 0,
      unconfirmed_urls: [],
      blocked_since: null,
    });
  });

  it('stages the next EdDSA key ROTATION_LEAD before it is due; the edges that are up publish it', async () => {
    clock.set(new Date(STAGE_AT.getTime() - 1));
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    clock.set(STAGE_AT);
    const staged = await cp.scheduler.tick();
    expect(staged).toMatchObject({ step: 'staged' });
    stagedKid = (staged as { kid: string }).kid;
    for (const edge of edges) {
      await waitFor(async () => ((await jwksKids(edge)).includes(stagedKid) ? true : undefined), {
        what: `the ${edge.runtime} edge to publish the standby key`,
        timeoutMs: 15_000,
        intervalMs: 50,
      });
    }
    // Nothing signs with it yet.
    expect((await issue('before')).kid).toBe(firstKid);
    expect(await keywardStatus()).toContain(
      `schedule staged: standby ${stagedKid} becomes active at ${DUE.toISOString()} once every edge has confirmed it`,
    );
  });

  it('blocks the promotion at the due time while the edge is down: logged, in /metrics, /healthz and keyward status; the active key keeps signing', async () => {
    clock.set(DUE);
    expect(await cp.scheduler.tick()).toEqual({
      step: 'blocked',
      kid: stagedKid,
      total: 3,
      missing: [downUrl],
    });
    expect(cp.logs.filter((line) => line.level === 40 && line.msg.startsWith('Scheduled promotion'))).toEqual(
      [
        expect.objectContaining({
          kid: stagedKid,
          not_confirmed: [downUrl],
          msg: `Scheduled promotion of ${stagedKid} blocked: 1 of 3 edges have not confirmed a keyset holding it (${downUrl}); the active key keeps signing, retrying every 30 s`,
        }),
      ],
    );
    const metrics = await cp.httpText('/metrics');
    expect(metricValue(metrics, 'keyward_rotation_promotion_blocked')).toBe(1);
    expect(metricValue(metrics, 'keyward_rotation_unconfirmed_edges')).toBe(1);
    expect(metricValue(metrics, 'keyward_rotation_next_due_timestamp_seconds')).toBe(DUE.getTime() / 1000);
    const health = await cp.httpJson('/healthz');
    expect(health).toMatchObject({
      status: 200,
      body: {
        status: 'ok',
        active_kid: firstKid,
        rotation: {
          phase: 'blocked',
          standby_kid: stagedKid,
          unconfirmed_edges: 1,
          unconfirmed_urls: [downUrl],
        },
      },
    });
    expect(await keywardStatus()).toContain(
      `schedule BLOCKED since ${DUE.toISOString()}: standby ${stagedKid} was due at ${DUE.toISOString()}; 1 edge not confirmed (${downUrl}); the active key keeps signing`,
    );
    const { token, kid } = await issue('during the outage');
    expect(kid).toBe(firstKid);
    for (const answer of await answers(token)) {
      expect(answer).toMatchObject({ status: 200, body: { valid: true, kid: firstKid } });
    }
    // Tried again a retry interval later: still blocked, still not promoted.
    clock.advance(RETRY_MS);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'blocked', missing: [downUrl] });
    expect((await issue('still')).kid).toBe(firstKid);
  });

  it('promotes once the edge is back, and tokens of the new key verify at every edge on the first request', async () => {
    // It comes back holding nothing: the promotion waits until a push has given it a keyset holding the key.
    edges.push(await startNodeEdge({ keysetKey: KEYSET_KEY, port: downPort }));
    clock.advance(RETRY_MS);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'promoted', kid: stagedKid });

    const withKid = await issue('promoted');
    const withoutKid = await issue('promoted, no kid', { kid: false });
    expect(withKid.kid).toBe(stagedKid);
    for (const { token } of [withKid, withoutKid]) {
      const seen = await answers(token);
      expect(seen.map((answer) => answer.runtime)).toEqual(['node', 'bun', 'node']);
      for (const answer of seen) {
        expect(answer).toMatchObject({ status: 200, body: { valid: true, kid: stagedKid } });
      }
    }

    expect((await cp.httpJson('/healthz')).body.rotation).toMatchObject({
      phase: 'idle',
      unconfirmed_edges: 0,
    });
    expect(metricValue(await cp.httpText('/metrics'), 'keyward_rotation_promotion_blocked')).toBe(0);
    const audit = (await reader.lrange(VALKEY_KEYS.audit, 0, -1)).map(
      (text) => JSON.parse(text) as AuditEntry,
    );
    expect(
      audit.filter((entry) => entry.actor === 'scheduler').map((entry) => [entry.action, entry.kid]),
    ).toEqual([
      ['stage', stagedKid],
      ['promote', stagedKid],
    ]);
    expect(await keywardStatus()).toMatch(/schedule idle: next key staged at /);
  });
});
