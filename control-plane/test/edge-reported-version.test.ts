/**
 * keyward_edge_reported_version: the version a real edge names in its answer to a push, even one above what the
 * control plane holds (which keyward_edge_confirmed_version never takes while the pusher may move above it).
 * The alert KeywardEdgeAheadOfControlPlane rests on it.
 */
import { describe, expect, it } from 'vitest';
import { SLACK_MS, storedKeysets, usePushFixtures, within } from '../../test/support/misbehaving-edge.ts';
import { createMetrics } from '../src/metrics.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

const { edgeServer, pusher } = usePushFixtures();

/** The sample of `name` for `target` in the registry's exposition, or null without one. */
async function sample(metrics: ReturnType<typeof createMetrics>, name: string, target: string) {
  const line = (await metrics.registry.metrics())
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{target="${target}"} `));
  return line === undefined ? null : Number(line.split(' ')[1]);
}

describe('keyward_edge_reported_version', () => {
  it('is absent before an answer, then the version the edge names: equal after a push it takes', async () => {
    const [v1] = await storedKeysets();
    const edge = await edgeServer();
    const p = pusher({ urls: [edge.url], timeoutMs: 2_000, retries: 0, backgroundRetries: 0 });
    const metrics = createMetrics();
    metrics.observeEdges(() => p.targets);
    expect(await sample(metrics, 'keyward_edge_reported_version', edge.url)).toBeNull();

    await within(SLACK_MS, 'the push round', p.pushAll(v1 as StoredKeyset));
    expect(await sample(metrics, 'keyward_edge_reported_version', edge.url)).toBe(1);
  });

  it('names the version of an edge ahead of the control plane when moving above it fails', async () => {
    const [, v2, v3] = await storedKeysets();
    const ahead = await edgeServer();
    const taken = await ahead.edge.fetch(
      new Request('http://edge.test/keyset', { method: 'PUT', body: (v3 as StoredKeyset).envelope }),
    );
    expect(taken.status).toBe(200);
    const p = pusher({
      urls: [ahead.url],
      timeoutMs: 2_000,
      retries: 0,
      backgroundRetries: 0,
      moveAbove: () => Promise.reject(new Error('storage unreachable')),
    });
    const metrics = createMetrics();
    metrics.observeEdges(() => p.targets);

    await expect(within(SLACK_MS, 'the push round', p.pushAll(v2 as StoredKeyset))).rejects.toThrow(
      'storage unreachable',
    );
    expect(await sample(metrics, 'keyward_edge_reported_version', ahead.url)).toBe(3);
    expect(p.targets[0]).toMatchObject({ confirmedVersion: 0, reportedVersion: 3 });
  });
});
