/**
 * Scheduled rotation with ROTATION_LEAD through the real control plane (env storage, in memory) on a fake clock:
 * real Node edges in this process taking its pushes, an EDGE_URLS target nothing listens on until an edge is
 * started there, /healthz and /metrics over HTTP, GetKeyset over gRPC. Each step is made with the scheduler's
 * tick at the clock's chosen instant.
 */
import { importJWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { findActiveKey, findStandbyKey, type Keyset, signingJwk } from '../../shared/keyset.ts';
import { waitUntil } from '../../test/support/bounded-waits.ts';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { freePort } from '../../test/support/free-port.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { type NodeEdgeServer, startNodeEdgeServer } from '../../test/support/node-edge-server.ts';
import {
  metricValue,
  type ScheduledControlPlane,
  startScheduledControlPlane,
} from '../../test/support/scheduled-control-plane.ts';
import type { AuditEntry } from '../src/audit/audit-entry.ts';
import { nextRotationStep } from '../src/rotation/rotation-due.ts';
import type { EnvStorage } from '../src/storage/env-storage.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = new Date('2031-03-01T00:00:00.000Z');
const DUE = new Date(T0.getTime() + 90 * DAY);
const STAGE_AT = new Date(DUE.getTime() - HOUR);
const RETRY_MS = 30_000;

interface Setup {
  clock: FakeClock;
  cp: ScheduledControlPlane;
  edges: NodeEdgeServer[];
}

const running: Array<{ stop(): Promise<void> }> = [];

afterEach(async () => {
  for (const part of running.splice(0).reverse()) await part.stop();
});

async function startEdge(port = 0): Promise<NodeEdgeServer> {
  const edge = await startNodeEdgeServer(KEYSET_KEY, port);
  running.push({ stop: () => edge.close() });
  return edge;
}

/** A control plane at T0 whose first key (HS256, from JWT_SECRET) was made at T0, pushing to `edgeUrls`. */
async function start(options: { edges: number; extraUrls?: string[]; lead?: string }): Promise<Setup> {
  const clock = new FakeClock(T0);
  const edges = await Promise.all(Array.from({ length: options.edges }, () => startEdge()));
  const cp = await startScheduledControlPlane({
    clock,
    edgeUrls: [...edges.map((edge) => edge.url), ...(options.extraUrls ?? [])],
    lead: options.lead,
  });
  running.push(cp);
  return { clock, cp, edges };
}

async function held(cp: ScheduledControlPlane): Promise<Keyset> {
  return (await cp.controlPlane.manager.keyset()).keyset;
}

function audit(cp: ScheduledControlPlane): AuditEntry[] {
  return (cp.controlPlane.storage as EnvStorage).auditLog.map((text) => JSON.parse(text) as AuditEntry);
}

/** A token signed with the active key as issuers read it (jwt_secrets:signing_key), valid in real time. */
async function signActive(keyset: Keyset, sub: string): Promise<string> {
  const jwk = signingJwk(keyset);
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(jwk, jwk.alg));
}

async function verifyAt(edge: NodeEdgeServer, token: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${edge.url}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return { status: response.status, body: await response.json() };
}

describe('nextRotationStep', () => {
  const active = { kid: 'a', alg: 'HS256', k: 'AA', status: 'active', created_at: T0.toISOString() } as const;
  const keyset = (keys: object[]) =>
    ({
      version: 2,
      issued_at: T0.toISOString(),
      keys: keys.map((k) => ({ expires_at: null, version: 1, ...k })),
    }) as Keyset;
  const timing = { intervalMs: 90 * DAY, leadMs: HOUR };

  it('stages ROTATION_LEAD before the active key is due, then promotes the standby key when due', () => {
    expect(nextRotationStep(keyset([active]), timing)).toEqual({ step: 'stage', at: STAGE_AT, dueAt: DUE });
    const staged = keyset([
      active,
      { ...active, kid: 's', status: 'standby', created_at: STAGE_AT.toISOString() },
    ]);
    expect(nextRotationStep(staged, timing)).toEqual({
      step: 'promote',
      at: DUE,
      dueAt: DUE,
      kid: 's',
      stagedAt: STAGE_AT,
    });
  });

  it('promotes a standby key staged late no sooner than ROTATION_LEAD after its staging, one staged early when due', () => {
    const late = new Date(DUE.getTime() + 5 * DAY);
    const lateKeyset = keyset([
      active,
      { ...active, kid: 's', status: 'standby', created_at: late.toISOString() },
    ]);
    expect(nextRotationStep(lateKeyset, timing)).toMatchObject({ at: new Date(late.getTime() + HOUR) });
    const early = keyset([active, { ...active, kid: 's', status: 'standby', created_at: T0.toISOString() }]);
    expect(nextRotationStep(early, timing)).toMatchObject({ step: 'promote', at: DUE });
  });

  it('is one step at the due time without a lead, whatever is standby', () => {
    const staged = keyset([active, { ...active, kid: 's', status: 'standby' }]);
    expect(nextRotationStep(staged, { ...timing, leadMs: 0 })).toEqual({
      step: 'rotate',
      at: DUE,
      dueAt: DUE,
    });
  });
});

describe('scheduled rotation with ROTATION_LEAD', () => {
  it('stages a key of the active algorithm ROTATION_LEAD before due, once, and promotes it when due once every edge holds it', async () => {
    const { clock, cp, edges } = await start({ edges: 2 });
    const rotated = await cp.client.rotateSecret({
      admin_token: cp.adminToken,
      alg: 'EdDSA',
      generate: true,
    });
    const first = await held(cp);
    expect(findActiveKey(first)).toMatchObject({
      alg: 'EdDSA',
      kid: rotated.kid,
      created_at: T0.toISOString(),
    });
    expect((await cp.scheduler.status()).phase).toBe('idle');
    expect(await cp.scheduler.status()).toMatchObject({
      stage_at: STAGE_AT.toISOString(),
      due_at: DUE.toISOString(),
      standby_kid: null,
    });

    clock.set(new Date(STAGE_AT.getTime() - 1));
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    clock.set(STAGE_AT);
    const staged = await cp.scheduler.tick();
    expect(staged).toMatchObject({ step: 'staged' });
    const kid = (staged as { kid: string }).kid;
    const stagedKeyset = await held(cp);
    expect(findStandbyKey(stagedKeyset)).toMatchObject({
      kid,
      alg: 'EdDSA',
      created_at: STAGE_AT.toISOString(),
    });
    expect(findActiveKey(stagedKeyset)?.kid).toBe(rotated.kid);
    // Looking again stages nothing more.
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    expect(findStandbyKey(await held(cp))?.kid).toBe(kid);
    expect(audit(cp).filter((entry) => entry.action === 'stage')).toHaveLength(1);
    // The push of the staged keyset (and of its pruning of expired keys) reaches both edges.
    await waitUntil(
      'both edges confirm the staged keyset',
      async () => (await cp.scheduler.status()).unconfirmed_edges === 0,
    );
    expect(edges.every((edge) => edge.edge.store.version >= stagedKeyset.version)).toBe(true);
    expect(await cp.scheduler.status()).toMatchObject({
      phase: 'staged',
      standby_kid: kid,
      staged_at: STAGE_AT.toISOString(),
      due_at: DUE.toISOString(),
      unconfirmed_edges: 0,
    });

    clock.set(new Date(DUE.getTime() - 1));
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    clock.set(DUE);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'promoted', kid });
    const promoted = await held(cp);
    expect(findActiveKey(promoted)?.kid).toBe(kid);
    expect(promoted.keys.find((key) => key.kid === rotated.kid)).toMatchObject({
      status: 'previous',
      expires_at: new Date(DUE.getTime() + DAY).toISOString(),
    });
    expect(findStandbyKey(promoted)).toBeUndefined();
    expect(audit(cp).slice(-2)).toMatchObject([
      { action: 'stage', actor: 'scheduler', kid },
      { action: 'promote', actor: 'scheduler', kid },
    ]);
    expect(cp.logs.filter((line) => line.scheduled === true).map((line) => [line.msg, line.kid])).toEqual([
      ['Staging standby key', kid],
      ['Rotating JWT secret: promoting standby key', kid],
    ]);
    const token = await signActive(promoted, 'scheduled');
    for (const edge of edges) {
      expect(await verifyAt(edge, token)).toMatchObject({ status: 200, body: { valid: true, kid } });
    }
    const metrics = await cp.httpText('/metrics');
    expect(metrics).toContain('keyward_rotations_total{kind="scheduled_stage"} 1');
    expect(metrics).toContain('keyward_rotations_total{kind="scheduled_promote"} 1');
    // The next key is due ROTATION_INTERVAL after this one's creation (its staging).
    expect(await cp.scheduler.status()).toMatchObject({
      phase: 'idle',
      due_at: new Date(STAGE_AT.getTime() + 90 * DAY).toISOString(),
    });
    const after = await cp.httpText('/metrics');
    expect(metricValue(after, 'keyward_active_key_created_timestamp_seconds')).toBe(
      STAGE_AT.getTime() / 1000,
    );
    expect(metricValue(after, 'keyward_rotation_next_due_timestamp_seconds')).toBe(
      (STAGE_AT.getTime() + 90 * DAY) / 1000,
    );
    // No standby key: no series, not a 0.
    expect(after).not.toMatch(/^keyward_rotation_standby_staged_timestamp_seconds /m);
  });

  it('promotes a key an operator staged instead of staging another', async () => {
    const { clock, cp } = await start({ edges: 1 });
    clock.set(new Date(T0.getTime() + 10 * DAY));
    const staged = await cp.client.stageKey({ admin_token: cp.adminToken, alg: 'ES256' });
    const version = (await held(cp)).version;
    clock.set(STAGE_AT);
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    expect((await held(cp)).version).toBe(version);
    expect(await cp.scheduler.status()).toMatchObject({ phase: 'staged', standby_kid: staged.kid });
    clock.set(DUE);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'promoted', kid: staged.kid });
    expect(findActiveKey(await held(cp))).toMatchObject({ kid: staged.kid, alg: 'ES256' });
    expect(audit(cp).map((entry) => [entry.action, entry.actor === 'scheduler'])).toEqual([
      ['stage', false],
      ['promote', true],
    ]);
  });

  it('stages at once when nothing is standby at the due time, and promotes ROTATION_LEAD later', async () => {
    const { clock, cp } = await start({ edges: 1 });
    const late = new Date(DUE.getTime() + 5 * DAY);
    clock.set(late);
    const staged = await cp.scheduler.tick();
    expect(staged).toMatchObject({ step: 'staged' });
    const promoteAt = new Date(late.getTime() + HOUR);
    expect(await cp.scheduler.status()).toMatchObject({ phase: 'staged', due_at: promoteAt.toISOString() });
    expect(await cp.scheduler.msUntilNextLook(staged)).toBe(HOUR);
    clock.set(new Date(promoteAt.getTime() - 1));
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    clock.set(promoteAt);
    expect(await cp.scheduler.tick()).toMatchObject({
      step: 'promoted',
      kid: (staged as { kid: string }).kid,
    });
  });

  it('stages another key when the standby key was revoked', async () => {
    const { clock, cp } = await start({ edges: 1 });
    clock.set(STAGE_AT);
    const first = (await cp.scheduler.tick()) as { kid: string };
    await cp.client.revokeKey({ admin_token: cp.adminToken, kid: first.kid });
    clock.advance(RETRY_MS);
    const second = (await cp.scheduler.tick()) as { step: string; kid: string };
    expect(second.step).toBe('staged');
    expect(second.kid).not.toBe(first.kid);
    // Staged 30 s after the first, it is promoted ROTATION_LEAD after its own staging.
    clock.set(DUE);
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    clock.advance(RETRY_MS);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'promoted', kid: second.kid });
  });

  it('promotes at the due time without EDGE_URLS', async () => {
    const { clock, cp } = await start({ edges: 0 });
    clock.set(STAGE_AT);
    const staged = (await cp.scheduler.tick()) as { kid: string };
    clock.set(DUE);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'promoted', kid: staged.kid });
  });

  it('blocks the promotion while an edge has not confirmed the key, shows it, retries, and promotes once it confirms', async () => {
    const port = await freePort();
    const deadUrl = `http://127.0.0.1:${port}`;
    const { clock, cp, edges } = await start({ edges: 1, extraUrls: [deadUrl] });
    const before = await held(cp);
    clock.set(STAGE_AT);
    const { kid } = (await cp.scheduler.tick()) as { kid: string };
    clock.set(DUE);
    const blocked = await cp.scheduler.tick();
    expect(blocked).toEqual({ step: 'blocked', kid, total: 2, missing: [deadUrl] });
    // The active key keeps signing.
    const blockedKeyset = await held(cp);
    expect(findActiveKey(blockedKeyset)?.kid).toBe(findActiveKey(before)?.kid);
    expect(findStandbyKey(blockedKeyset)?.kid).toBe(kid);
    const warnings = () => cp.logs.filter((line) => line.level === 40 && line.msg.includes('blocked'));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      kid,
      unconfirmed: 1,
      edges: 2,
      not_confirmed: [deadUrl],
      retry_s: 30,
      msg: `Scheduled promotion of ${kid} blocked: 1 of 2 edges have not confirmed a keyset holding it (${deadUrl}); the active key keeps signing, retrying every 30 s`,
    });

    const health = await cp.httpJson('/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      storage: 'env',
      keyset_version: blockedKeyset.version,
      active_kid: findActiveKey(before)?.kid,
      rotation: {
        phase: 'blocked',
        standby_kid: kid,
        staged_at: STAGE_AT.toISOString(),
        due_at: DUE.toISOString(),
        unconfirmed_edges: 1,
        unconfirmed_urls: [deadUrl],
        blocked_since: DUE.toISOString(),
      },
    });
    expect(Object.keys(health.body)).toEqual([
      'status',
      'storage',
      'keyset_version',
      'active_kid',
      'active_age_s',
      'edges',
      'rotation',
    ]);
    const metrics = await cp.httpText('/metrics');
    expect(metricValue(metrics, 'keyward_rotation_promotion_blocked')).toBe(1);
    expect(metricValue(metrics, 'keyward_rotation_unconfirmed_edges')).toBe(1);
    expect(metricValue(metrics, 'keyward_rotation_standby_staged_timestamp_seconds')).toBe(
      STAGE_AT.getTime() / 1000,
    );
    expect(metricValue(metrics, 'keyward_rotation_next_due_timestamp_seconds')).toBe(DUE.getTime() / 1000);
    const listed = await cp.client.getKeyset({ admin_token: cp.adminToken });
    expect(listed.schedule).toEqual({
      phase: 'blocked',
      standby_kid: kid,
      staged_at: STAGE_AT.toISOString(),
      stage_at: '',
      due_at: DUE.toISOString(),
      unconfirmed_edges: 1,
      unconfirmed_urls: [deadUrl],
      blocked_since: DUE.toISOString(),
    });

    // Retried every 30 s; the same edge missing is not warned about again at each retry.
    expect(await cp.scheduler.msUntilNextLook(blocked)).toBe(RETRY_MS);
    clock.advance(RETRY_MS);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'blocked', missing: [deadUrl] });
    expect(warnings()).toHaveLength(1);

    // A blocking that lasts is warned about again every 10 minutes.
    clock.advance(10 * 60_000);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'blocked' });
    expect(warnings()).toHaveLength(2);

    const revived = await startEdge(port);
    clock.advance(RETRY_MS);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'promoted', kid });
    const promoted = await held(cp);
    expect(cp.logs.find((line) => line.msg === 'Rotating JWT secret: promoting standby key')).toMatchObject({
      kid,
      scheduled: true,
      blocked_since: DUE.toISOString(),
    });
    const token = await signActive(promoted, 'after the outage');
    for (const edge of [...edges, revived]) {
      expect(await verifyAt(edge, token)).toMatchObject({ status: 200, body: { valid: true, kid } });
    }
    expect((await cp.httpJson('/healthz')).body.rotation).toMatchObject({
      phase: 'idle',
      unconfirmed_edges: 0,
    });
    expect(metricValue(await cp.httpText('/metrics'), 'keyward_rotation_promotion_blocked')).toBe(0);
  });
});

describe('the schedule on the real clock', () => {
  it('makes its steps on its own: stages, promotes once the edge holds the key, and stages the next', async () => {
    const edge = await startEdge();
    const cp = await startScheduledControlPlane({
      clock: { now: () => new Date() },
      edgeUrls: [edge.url],
      interval: '4s',
      lead: '2s',
    });
    running.push(cp);
    await waitUntil('the schedule to stage, promote and stage again by itself', () => audit(cp).length >= 3);
    const [staged, promoted, next] = audit(cp);
    expect([staged, promoted, next]).toMatchObject([
      { action: 'stage', actor: 'scheduler' },
      { action: 'promote', actor: 'scheduler', kid: staged?.kid },
      { action: 'stage', actor: 'scheduler' },
    ]);
    // The edge took the staged keyset, which the promotion waits for.
    expect(edge.puts.some((put) => put.status === 200 && put.version >= (staged?.version ?? Infinity))).toBe(
      true,
    );
  });
});

describe('scheduled rotation with ROTATION_LEAD=off', () => {
  it('rotates in one step when due, leaving a standby key standby', async () => {
    const { clock, cp } = await start({ edges: 1, lead: 'off' });
    const staged = await cp.client.stageKey({ admin_token: cp.adminToken, alg: 'EdDSA' });
    expect(await cp.scheduler.status()).toMatchObject({
      phase: 'idle',
      stage_at: null,
      due_at: DUE.toISOString(),
    });
    clock.set(new Date(DUE.getTime() - 1));
    expect(await cp.scheduler.tick()).toEqual({ step: 'none' });
    clock.set(DUE);
    expect(await cp.scheduler.tick()).toMatchObject({ step: 'rotated' });
    const keyset = await held(cp);
    expect(findActiveKey(keyset)).toMatchObject({ alg: 'HS256', created_at: DUE.toISOString() });
    expect(findStandbyKey(keyset)?.kid).toBe(staged.kid);
    expect(audit(cp).map((entry) => entry.action)).toEqual(['stage', 'rotate_scheduled']);
    expect(cp.logs.find((line) => line.scheduled === true)?.msg).toBe('Rotating JWT secret');
  });
});
