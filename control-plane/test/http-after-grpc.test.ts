/**
 * The control plane's HTTP side after changes made over gRPC: /healthz, /keyset (ETag and 304) and /metrics
 * tell what the rotations did, and hold neither the admin token nor a secret.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKeyset } from '../../shared/keyset-envelope.ts';
import { expectStatus, settle } from '../../test/support/grpc-outcome.ts';
import { type GrpcTarget, startGrpcTarget } from '../../test/support/grpc-target.ts';
import { openingKeysFor } from '../../test/support/keysets.ts';
import { SecrecyLedger } from '../../test/support/secrecy-ledger.ts';
import { envelopeEtag } from '../src/http-server.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const KEYSET_KEY_TEXT = randomBytes(32).toString('base64url');
const KEYSET_KEY = new Uint8Array(Buffer.from(KEYSET_KEY_TEXT, 'base64url'));
const DEADLINE_MS = 10_000;
const ledger = new SecrecyLedger(ADMIN_TOKEN);
const newSecret = () => ledger.newSecret('grpc-test');

describe('the HTTP side after rotations over gRPC (Valkey storage)', () => {
  let target: GrpcTarget;

  beforeAll(async () => {
    target = await startGrpcTarget({
      adminToken: ADMIN_TOKEN,
      keysetKey: KEYSET_KEY_TEXT,
      initialSecret: newSecret(),
    });
  });

  afterAll(async () => {
    await target?.stop();
  });

  it('serves /healthz, /keyset with ETag and 304, and /metrics over HTTP', async () => {
    const { client, http, admin } = target;
    const options = { deadlineMs: DEADLINE_MS };
    // One manual rotation, one emergency rotation and one wrong token: what /metrics counts below.
    await client.rotateSecret({ admin_token: ADMIN_TOKEN, new_secret: newSecret() }, options);
    await client.rotateSecret(
      { admin_token: ADMIN_TOKEN, new_secret: newSecret(), emergency: true },
      options,
    );
    const wrong = ledger.tokenCandidate(
      `${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('A') ? 'B' : 'A'}`,
    );
    expectStatus(
      await settle(client.rotateSecret({ admin_token: wrong, new_secret: newSecret() }, options)),
      status.PERMISSION_DENIED,
    );
    const keyset = await client.getKeyset({ admin_token: ADMIN_TOKEN }, options);

    const health = await fetch(`${http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      storage: 'valkey',
      keyset_version: keyset.version,
      active_kid: keyset.keys[0]?.kid,
    });

    const envelope = await fetch(`${http}/keyset`);
    expect(envelope.status).toBe(200);
    const etag = envelope.headers.get('etag');
    const body = await envelope.text();
    expect(etag).toBe(envelopeEtag(body));
    expect(body).toBe(await admin.get(VALKEY_KEYS.keyset));
    const opened = await openKeyset(body, openingKeysFor(KEYSET_KEY));
    expect(opened.version).toBe(keyset.version);
    expect(opened.keys.map((k) => k.kid)).toEqual(keyset.keys.map((k) => k.kid));

    const notModified = await fetch(`${http}/keyset`, { headers: { 'if-none-match': etag as string } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe('');
    const stale = await fetch(`${http}/keyset`, { headers: { 'if-none-match': '"v0"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();

    const metrics = await fetch(`${http}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain(`keyward_keyset_version ${keyset.version}`);
    expect(text).toMatch(/keyward_rotations_total\{kind="manual"\} \d+/);
    expect(text).toMatch(/keyward_rotations_total\{kind="emergency"\} 1/);
    expect(text).toMatch(/keyward_admin_calls_total\{rpc="RotateSecret",outcome="permission_denied"\} \d+/);
    ledger.expectNoneIn('/metrics', text);
    ledger.expectNoneIn('/healthz', JSON.stringify(await (await fetch(`${http}/healthz`)).json()));
  });
});
