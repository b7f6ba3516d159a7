/**
 * The per-edge inventory where an operator reads it, from a real control plane over Valkey whose EDGE_URLS are a
 * Node edge process, an in-process edge whose clock runs 5 minutes ahead, an edge answering as edges did before
 * the inventory, and an address where nothing listens: GetKeyset over real gRPC, /healthz, /metrics and
 * `npx keyward status`. None of it carries key material or the admin token.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import type { Valkey } from 'iovalkey';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeState, GetKeysetResponse, StageKeyResponse } from '../../control-plane/src/grpc/proto.ts';
import {
  connectSecretService,
  type SecretServiceConnection,
} from '../../control-plane/src/grpc/secret-service-client.ts';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { type EdgeProcess, ROOT, startNodeEdge } from '../../test/support/edge-processes.ts';
import {
  type LoopbackEdge,
  startOlderEdge,
  startSkewedEdgeServer,
  unreachableUrl,
} from '../../test/support/inventory-edges.ts';
import { connectAdmin } from '../../test/support/valkey-layout.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';

const SKEW_MS = 300_000;
const DEADLINE = { deadlineMs: 30_000 };

describe('the per-edge inventory in GetKeyset, /healthz, /metrics and keyward status', () => {
  let valkey: ValkeyServer;
  let admin: Valkey;
  let nodeEdge: EdgeProcess;
  let skewed: LoopbackEdge;
  let older: LoopbackEdge;
  let down: string;
  let harness: Harness;
  let client: SecretServiceConnection;
  let staged: StageKeyResponse;
  let keyset: GetKeysetResponse;

  beforeAll(async () => {
    const keysetKey = randomBytes(32).toString('base64url');
    valkey = await startValkey();
    admin = await connectAdmin(valkey.url);
    [nodeEdge, skewed, older, down] = await Promise.all([
      startNodeEdge({ keysetKey }),
      startSkewedEdgeServer(keysetKey, SKEW_MS),
      startOlderEdge(keysetKey),
      unreachableUrl(),
    ]);
    harness = await startHarness({
      valkeyUrl: valkey.url,
      keysetKey,
      edgeUrls: [nodeEdge.url, skewed.url, older.url, down],
    });
    client = connectSecretService(harness.grpcAddress, credentials.createInsecure());
    staged = await client.stageKey({ admin_token: harness.adminToken, alg: 'ES256' }, DEADLINE);
    keyset = await client.getKeyset({ admin_token: harness.adminToken }, DEADLINE);
  });

  afterAll(async () => {
    client?.close();
    await harness?.stop();
    await Promise.all([nodeEdge?.stop(), skewed?.close(), older?.close()]);
    admin?.disconnect();
    await valkey?.stop();
  });

  const edgeIn = (response: GetKeysetResponse, url: string): EdgeState => {
    const edge = response.edges.find((candidate) => candidate.url === url);
    if (edge === undefined) throw new Error(`no edge ${url} in GetKeyset`);
    return edge;
  };
  const kidOf = (status: string) => keyset.keys.find((key) => key.status === status)?.kid as string;

  it('GetKeyset: each edge that answered shows the kids it holds, when it confirmed, and its clock offset', () => {
    expect(staged.edges.map((edge) => edge.confirmed)).toEqual([true, true, true, false]);
    expect(keyset.version).toBe(staged.version);
    const kids = keyset.keys.map((key) => key.kid).sort();
    expect(kids).toContain(staged.kid);
    expect(kidOf('standby')).toBe(staged.kid);

    for (const [url, skew] of [
      [nodeEdge.url, 0],
      [skewed.url, SKEW_MS],
    ] as const) {
      const edge = edgeIn(keyset, url);
      expect(edge).toMatchObject({ confirmed_version: keyset.version, last_error: '', kids_known: true });
      expect([...edge.kids].sort()).toEqual(kids);
      expect(Date.parse(edge.last_success_at)).not.toBeNaN();
      // The round trip bounds the offset's error: half of it, plus clock resolution and rounding.
      expect(edge.rtt_ms).toBeGreaterThanOrEqual(0);
      expect(Math.abs((edge.clock_offset_ms as number) - skew)).toBeLessThanOrEqual(
        (edge.rtt_ms as number) / 2 + 2.5,
      );
    }

    // An edge without the inventory members confirms; kids and clock are unknown, not empty or 0.
    const old = edgeIn(keyset, older.url);
    expect(old).toMatchObject({
      confirmed_version: keyset.version,
      last_error: '',
      kids: [],
      kids_known: false,
    });
    expect(old.clock_offset_ms).toBeUndefined();
    expect(old.rtt_ms).toBeUndefined();

    const unreachable = edgeIn(keyset, down);
    expect(unreachable).toMatchObject({
      confirmed_version: 0,
      last_success_at: '',
      kids: [],
      kids_known: false,
    });
    expect(unreachable.last_error).toMatch(/^unreachable: /);
    expect(unreachable.clock_offset_ms).toBeUndefined();
    expect(unreachable.rtt_ms).toBeUndefined();
  });

  it('/healthz: each edge entry gains kids, clock_offset_ms and rtt_ms (null when unknown); status rules unchanged', async () => {
    const response = await fetch(`${harness.httpUrl}/healthz`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; edges: Array<Record<string, unknown>> };
    expect(body.status).toBe('ok');
    const entry = (url: string) => body.edges.find((edge) => edge.url === url) as Record<string, unknown>;
    expect(Object.keys(entry(nodeEdge.url)).sort()).toEqual(
      [
        'clock_offset_ms',
        'confirmed_version',
        'kids',
        'last_error',
        'last_success_at',
        'rtt_ms',
        'url',
      ].sort(),
    );
    for (const url of [nodeEdge.url, skewed.url]) {
      const edge = entry(url);
      const state = edgeIn(keyset, url);
      expect(edge).toMatchObject({ confirmed_version: keyset.version, last_error: null });
      expect((edge.kids as string[]).sort()).toEqual([...state.kids].sort());
      expect(typeof edge.clock_offset_ms).toBe('number');
      expect(typeof edge.rtt_ms).toBe('number');
    }
    expect(Math.abs((entry(skewed.url).clock_offset_ms as number) - SKEW_MS)).toBeLessThanOrEqual(
      (entry(skewed.url).rtt_ms as number) / 2 + 2.5,
    );
    expect(entry(older.url)).toMatchObject({ kids: null, clock_offset_ms: null, rtt_ms: null });
    expect(entry(down)).toMatchObject({
      confirmed_version: 0,
      last_success_at: null,
      kids: null,
      clock_offset_ms: null,
      rtt_ms: null,
    });
    expect(entry(down).last_error).toMatch(/^unreachable: /);
  });

  it('/metrics: the clock offset and last confirmation per edge, no series for what is unknown', async () => {
    const text = await (await fetch(`${harness.httpUrl}/metrics`)).text();
    const value = (name: string, url: string): number | undefined => {
      const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{target="${url}"} `));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    const offset = 'keyward_edge_clock_offset_seconds';
    const confirmed = 'keyward_edge_last_confirmed_timestamp_seconds';
    const skewedState = edgeIn(keyset, skewed.url);
    expect(value(offset, skewed.url)).toBeCloseTo((skewedState.clock_offset_ms as number) / 1000, 2);
    expect(Math.abs((value(offset, nodeEdge.url) as number) * 1000)).toBeLessThanOrEqual(
      (edgeIn(keyset, nodeEdge.url).rtt_ms as number) / 2 + 2.5,
    );
    for (const url of [nodeEdge.url, skewed.url, older.url]) {
      expect(value(confirmed, url)).toBe(Date.parse(edgeIn(keyset, url).last_success_at) / 1000);
    }
    expect(value(offset, older.url)).toBeUndefined();
    expect(value(offset, down)).toBeUndefined();
    expect(value(confirmed, down)).toBeUndefined();
    // The metrics that were there before stay.
    expect(text).toContain(`keyward_edge_confirmed_version{target="${nodeEdge.url}"}`);
  });

  it('/metrics: the unreachable edge shows as failed push attempts and a round not every edge confirmed', async () => {
    const text = await (await fetch(`${harness.httpUrl}/metrics`)).text();
    const value = (sample: string): number | undefined => {
      const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    expect(value('keyward_push_attempt_duration_seconds_count{outcome="failed"}')).toBeGreaterThanOrEqual(1);
    expect(value('keyward_push_attempt_duration_seconds_count{outcome="ok"}')).toBeGreaterThanOrEqual(3);
    // The staged version's round waited for the unreachable edge's retries, then ended without it.
    expect(
      value('keyward_push_round_duration_seconds_count{outcome="not_all_confirmed"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(value('keyward_admin_call_duration_seconds_count{rpc="StageKey"}')).toBe(1);
    // No per-edge label on the histograms: 1,000 edges must not mean 1,000 sets of buckets.
    expect(text).not.toMatch(/^keyward_push_(attempt|round)_duration_seconds_bucket\{[^}]*target=/m);
  });

  it('keyward status: one line per edge with version, kids (standby and active held), confirmation age, clock offset', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'control-plane/src/cli.ts'), 'status'],
      {
        cwd: ROOT,
        timeout: 30_000,
        env: {
          PATH: process.env.PATH,
          ADMIN_TOKEN: harness.adminToken,
          KEYWARD_ADDRESS: harness.grpcAddress,
        },
      },
    );
    expect(stderr).toBe('');
    const line = (url: string) => stdout.split('\n').find((candidate) => candidate.includes(`edge ${url} `));
    const version = keyset.version;
    expect(line(nodeEdge.url)).toMatch(
      new RegExp(
        // Same machine: the offset is within half the round trip, which a loaded machine can stretch past 1 s.
        `^  edge ${nodeEdge.url} confirmed v${version} \\d+s ago, 2 kids \\(active yes, standby yes\\), clock [+-][\\d.]+ m?s \\(rtt \\d+ ms\\)$`,
      ),
    );
    const skewedLine = line(skewed.url) ?? '';
    const shown = new RegExp(
      `confirmed v${version} \\d+s ago, 2 kids \\(active yes, standby yes\\), clock \\+([\\d.]+) s \\(rtt (\\d+) ms\\)$`,
    ).exec(skewedLine);
    expect(shown, skewedLine).not.toBeNull();
    // 300 s ahead, measured within half the round trip (plus the 0.1 s the line rounds to).
    const [offsetS, rttMs] = [Number(shown?.[1]), Number(shown?.[2])];
    expect(Math.abs(offsetS - 300)).toBeLessThanOrEqual(rttMs / 2000 + 0.1);
    expect(line(older.url)).toMatch(
      new RegExp(`confirmed v${version} \\d+s ago, kids unknown, clock unknown$`),
    );
    expect(line(down)).toMatch(
      new RegExp(`^  edge ${down} never confirmed, kids unknown, clock unknown \\(unreachable: .*\\)$`),
    );
    expect(stdout.split('\n').filter((candidate) => candidate.startsWith('  edge '))).toHaveLength(4);
  });

  it('none of it carries key material or the admin token', async () => {
    const state = JSON.parse((await admin.get(VALKEY_KEYS.state)) as string) as {
      keys: Array<{ k?: string; d?: string }>;
    };
    const material = state.keys.flatMap((key) => [key.k, key.d]).filter((value) => value !== undefined);
    expect(material.length).toBeGreaterThanOrEqual(2);
    const texts = [
      JSON.stringify(await client.getKeyset({ admin_token: harness.adminToken }, DEADLINE)),
      await (await fetch(`${harness.httpUrl}/healthz`)).text(),
      await (await fetch(`${harness.httpUrl}/metrics`)).text(),
    ];
    for (const text of texts) {
      for (const secret of [...material, harness.adminToken]) expect(text).not.toContain(secret);
    }
  });
});
