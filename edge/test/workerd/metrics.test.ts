/**
 * The edge's counters under workerd: GET /metrics is not served on Workers unless EDGE_METRICS=on (it would
 * answer anyone on the internet), and then counts /verify outcomes, pushes and pulls in the Prometheus text
 * format. ACCESS_LOG=on logs one JSON line per request, never the token or the Authorization header.
 */
import { describe, expect, it } from 'vitest';
import { KEYWARD_VERSION } from '../../../shared/build-info.ts';
import { computeKid } from '../../../shared/kid.ts';
import { getVerify, postVerify, putKeyset } from '../../../test/support/edge-requests.ts';
import { KeysetOrigin } from '../../../test/support/keyset-origin.ts';
import {
  buildKeyset,
  EDGE_KEYS,
  epochSeconds,
  seal,
  secret,
  signWithJose,
} from '../../../test/support/keysets.ts';
import { parseExposition, sampleValue } from '../../../test/support/prometheus-text.ts';
import { createEdge, type Edge } from '../../src/create-edge.ts';

const START = Date.parse('2026-06-01T12:00:00Z');
const ACTIVE = secret('metrics-active');

function metricsOf(edge: Edge): Promise<Response> {
  return edge.fetch(new Request('http://edge.test/metrics'));
}

async function samplesOf(edge: Edge) {
  const response = await metricsOf(edge);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

async function validToken(now: number): Promise<string> {
  const claims = { sub: 'user-7', iat: epochSeconds(now), exp: epochSeconds(now) + 600 };
  return signWithJose(ACTIVE, claims, { kid: await computeKid(ACTIVE) });
}

describe('GET /metrics on workerd', () => {
  it('is not served by default, nor with EDGE_METRICS=off: 404 not_found', async () => {
    for (const vars of [{}, { EDGE_METRICS: 'off' }]) {
      const edge = createEdge({ env: { ...EDGE_KEYS, ...vars }, log: () => {} });
      const response = await metricsOf(edge);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: 'not_found' });
    }
  });

  it('refuses an EDGE_METRICS or ACCESS_LOG that is neither "on" nor "off", naming it', () => {
    expect(() => createEdge({ env: { ...EDGE_KEYS, EDGE_METRICS: 'yes' } })).toThrow(/EDGE_METRICS/);
    expect(() => createEdge({ env: { ...EDGE_KEYS, ACCESS_LOG: '1' } })).toThrow(/ACCESS_LOG/);
  });

  it('with EDGE_METRICS=on: keyward_build_info names the version and workerd', async () => {
    const edge = createEdge({
      env: { ...EDGE_KEYS, EDGE_METRICS: 'on' },
      log: () => {},
      locationCache: null,
    });
    const info = (await samplesOf(edge)).filter((sample) => sample.name === 'keyward_build_info');
    expect(info).toEqual([
      {
        name: 'keyward_build_info',
        labels: { component: 'edge', version: KEYWARD_VERSION, runtime: 'workerd', runtime_version: '' },
        value: 1,
      },
    ]);
  });

  it('with EDGE_METRICS=on: counts verify outcomes by code, pushes, and when the keyset was taken and confirmed', async () => {
    let now = START;
    const edge = createEdge({
      env: { ...EDGE_KEYS, EDGE_METRICS: 'on' },
      now: () => now,
      log: () => {},
      locationCache: null,
    });
    let samples = await samplesOf(edge);
    expect(sampleValue(samples, 'keyward_edge_keyset_version')).toBe(0);
    expect(sampleValue(samples, 'keyward_edge_keyset_taken_timestamp_seconds')).toBeUndefined();
    expect(sampleValue(samples, 'keyward_edge_keyset_confirmed_timestamp_seconds')).toBeUndefined();
    expect(samples.filter((sample) => sample.name === 'keyward_edge_verify_total')).toEqual([]);

    const envelope = await seal(await buildKeyset(3, ACTIVE));
    const takenAt = now;
    expect((await putKeyset(edge, envelope)).status).toBe(200);
    now += 1_500;
    expect((await putKeyset(edge, envelope)).status).toBe(200);
    expect((await putKeyset(edge, 'not an envelope')).status).toBe(400);

    const token = await validToken(now);
    expect((await postVerify(edge, token)).status).toBe(200);
    expect((await getVerify(edge, `Bearer ${token}`)).status).toBe(200);
    expect((await postVerify(edge, 'garbage')).status).toBe(401);
    expect((await getVerify(edge)).status).toBe(401);
    const expired = await signWithJose(
      ACTIVE,
      { sub: 'user-7', exp: epochSeconds(now) - 3600 },
      { kid: await computeKid(ACTIVE) },
    );
    expect((await postVerify(edge, expired)).status).toBe(401);
    now += 90_000;

    samples = await samplesOf(edge);
    const verify = (outcome: string) => sampleValue(samples, 'keyward_edge_verify_total', { outcome });
    expect(verify('valid')).toBe(2);
    expect(verify('token_malformed')).toBe(1);
    expect(verify('token_missing')).toBe(1);
    expect(verify('token_expired')).toBe(1);
    expect(verify('signature_invalid')).toBeUndefined();
    expect(sampleValue(samples, 'keyward_edge_keyset_version')).toBe(3);
    // Taken at the first push; the second pushed the keyset it holds, which takes nothing. No origin: never
    // confirmed.
    expect(sampleValue(samples, 'keyward_edge_keyset_taken_timestamp_seconds')).toBe(takenAt / 1000);
    expect(sampleValue(samples, 'keyward_edge_keyset_confirmed_timestamp_seconds')).toBeUndefined();
    const pushes = (outcome: string) => sampleValue(samples, 'keyward_edge_pushes_total', { outcome });
    expect([pushes('taken'), pushes('held')]).toEqual([1, 1]);
    expect(pushes('envelope_malformed')).toBe(1);
  });

  it('counts each source answer to a pull: taken, unchanged, failed; the last confirmation is a timestamp', async () => {
    const origin = new KeysetOrigin(await seal(await buildKeyset(1, ACTIVE)));
    let down = false;
    let now = START;
    const edge = createEdge({
      env: { ...EDGE_KEYS, EDGE_METRICS: 'on', KEYSET_URL: 'https://origin.test/keyset' },
      now: () => now,
      fetch: (input, init) =>
        down ? Promise.reject(new TypeError('connection refused')) : origin.fetch(input, init),
      log: () => {},
      locationCache: null,
    });
    await edge.refresh('scheduled');
    now += 60_250;
    const confirmedAt = now;
    await edge.refresh('scheduled');
    down = true;
    now += 60_000;
    await edge.refresh('scheduled');

    const samples = await samplesOf(edge);
    const pulls = (outcome: string) =>
      sampleValue(samples, 'keyward_edge_pulls_total', { source: 'KEYSET_URL', outcome });
    expect([pulls('taken'), pulls('unchanged'), pulls('failed')]).toEqual([1, 1, 1]);
    expect(sampleValue(samples, 'keyward_edge_keyset_version')).toBe(1);
    expect(sampleValue(samples, 'keyward_edge_keyset_taken_timestamp_seconds')).toBe(START / 1000);
    // The unchanged answer confirmed it; the failed pull after it did not.
    expect(sampleValue(samples, 'keyward_edge_keyset_confirmed_timestamp_seconds')).toBe(confirmedAt / 1000);
  });
});

describe('ACCESS_LOG', () => {
  it('off by default: nothing is logged for requests', async () => {
    const lines: string[] = [];
    const edge = createEdge({ env: { ...EDGE_KEYS }, log: (line) => lines.push(line) });
    await putKeyset(edge, await seal(await buildKeyset(1, ACTIVE)));
    await postVerify(edge, await validToken(Date.now()));
    expect(lines.filter((line) => line.includes('"access"'))).toEqual([]);
  });

  it('on: one JSON line per request with method, path, status, outcome and duration, never the token', async () => {
    const lines: string[] = [];
    const edge = createEdge({ env: { ...EDGE_KEYS, ACCESS_LOG: 'on' }, log: (line) => lines.push(line) });
    await putKeyset(edge, await seal(await buildKeyset(1, ACTIVE)));
    const token = await validToken(Date.now());
    await postVerify(edge, token);
    await getVerify(edge, `Bearer ${token}`);
    await postVerify(edge, `${token}x`);
    await edge.fetch(new Request(`http://edge.test/healthz?token=${token}`));
    await edge.fetch(new Request('http://edge.test/nowhere'));

    const access = lines.filter((line) => line.startsWith('{"access":true'));
    expect(access).toHaveLength(6);
    const parsed = access.map((line) => {
      const { duration_ms, ...rest } = JSON.parse(line) as Record<string, unknown>;
      expect(typeof duration_ms).toBe('number');
      return rest;
    });
    expect(parsed).toEqual([
      { access: true, method: 'PUT', path: '/keyset', status: 200, outcome: 'taken' },
      { access: true, method: 'POST', path: '/verify', status: 200, outcome: 'valid' },
      { access: true, method: 'GET', path: '/verify', status: 200, outcome: 'valid' },
      { access: true, method: 'POST', path: '/verify', status: 401, outcome: 'signature_invalid' },
      { access: true, method: 'GET', path: '/healthz', status: 200, outcome: null },
      { access: true, method: 'GET', path: '/nowhere', status: 404, outcome: 'not_found' },
    ]);
    const signature = token.split('.')[2] as string;
    for (const line of lines) {
      expect(line).not.toContain(signature);
      expect(line).not.toContain('Bearer');
    }
  });
});
