/**
 * EdgePusher's background retries against real edges on loopback: an edge that comes back gets the newest
 * keyset, a newer keyset queued mid-retry is still delivered, and stop() ends the retries.
 */
import { describe, expect, it } from 'vitest';
import {
  eventually,
  outcomeFor,
  SLACK_MS,
  storedKeysets,
  usePushFixtures,
  within,
} from '../../test/support/misbehaving-edge.ts';
import type { StoredKeyset } from '../src/storage/keyset-storage.ts';

const { edgeServer, pusher } = usePushFixtures();

describe('EdgePusher background retries', () => {
  it.each([
    ['refusing connections (down)', 'down'],
    ['answering 503', '5xx'],
    ['hanging', 'hang'],
    ['resetting connections', 'reset'],
  ] as const)('the background retry delivers to an edge that was %s once it comes back', async (_, fault) => {
    const [v1] = await storedKeysets();
    const healthy = await edgeServer();
    const flaky = await edgeServer({ listening: fault !== 'down' });
    if (fault !== 'down') flaky.mode = fault;
    const p = pusher({
      urls: [healthy.url, flaky.url],
      timeoutMs: 1_500,
      retries: 1,
      backgroundRetries: 40,
      baseDelayMs: 10,
      maxDelayMs: 100,
    });
    const outcomes = await within(SLACK_MS * 2, 'the push round', p.pushAll(v1 as StoredKeyset));
    expect(outcomeFor(outcomes, healthy)).toMatchObject({ confirmed: true, version: 1 });
    expect(outcomeFor(outcomes, flaky)).toMatchObject({ confirmed: false, version: 0 });
    expect(healthy.version).toBe(1);
    expect(flaky.version).toBe(0);

    // Comes back while the background retries are still going (40 of them, at most 100 ms apart + timeouts).
    if (fault === 'down') await flaky.up();
    else flaky.mode = 'ok';
    expect(await eventually(SLACK_MS * 2, () => flaky.version === 1)).toBe(true);
    expect(
      await eventually(SLACK_MS, () => p.targets.find((t) => t.url === flaky.url)?.confirmedVersion === 1),
    ).toBe(true);
    expect(p.targets.find((t) => t.url === flaky.url)).toMatchObject({ lastError: '', confirmedVersion: 1 });
  });

  it('an edge that was down through several rotations gets the newest keyset when it comes back', async () => {
    const [v1, v2, v3] = await storedKeysets();
    const flaky = await edgeServer({ listening: false });
    const p = pusher({
      urls: [flaky.url],
      timeoutMs: 1_500,
      retries: 0,
      backgroundRetries: 60,
      baseDelayMs: 10,
      maxDelayMs: 100,
    });
    for (const stored of [v1, v2, v3] as StoredKeyset[]) {
      const [outcome] = await within(SLACK_MS, 'the push round', p.pushAll(stored));
      expect(outcome).toMatchObject({ confirmed: false, version: 0 });
    }
    await flaky.up();
    expect(await eventually(SLACK_MS * 2, () => flaky.version === 3)).toBe(true);
    // Only the newest pending keyset is retried: v1 and v2 never reach it after it comes back.
    expect(flaky.received.every((version) => version === 3)).toBe(true);
  });

  it('a newer keyset queued while a background retry of an older one is in flight is still delivered', async () => {
    // A background attempt that succeeds ends the retries only if nothing newer was queued while it was in
    // flight; otherwise the newer keyset is retried, or the edge would stay behind until the next change.
    const [v1, v2] = await storedKeysets();
    const edge = await edgeServer();
    edge.mode = '5xx';
    const p = pusher({
      urls: [edge.url],
      timeoutMs: 5_000,
      retries: 0,
      backgroundRetries: 50,
      baseDelayMs: 10,
      maxDelayMs: 50,
    });
    const [first] = await within(SLACK_MS, 'the v1 round', p.pushAll(v1 as StoredKeyset));
    expect(first).toMatchObject({ confirmed: false, error: 'HTTP 503' });
    // The next background attempt with v1 is held by the edge, mid-flight; v2 is refused for now.
    edge.route = (version) => (version === 1 ? 'park' : version === 2 ? '5xx' : undefined);
    expect(await eventually(SLACK_MS, () => edge.parked.length === 1)).toBe(true);
    const [second] = await within(SLACK_MS, 'the v2 round', p.pushAll(v2 as StoredKeyset));
    expect(second).toMatchObject({ confirmed: false, error: 'HTTP 503' });
    // The edge recovers: the parked v1 attempt now succeeds, and v2 is waiting to be retried.
    edge.route = undefined;
    edge.mode = 'ok';
    await (edge.parked.shift() as () => Promise<void>)();
    expect(await eventually(SLACK_MS, () => edge.version >= 1)).toBe(true);
    // 50 retries at most 50 ms apart are long over by then.
    expect(await eventually(5_000, () => edge.version === 2)).toBe(true);
  });

  it('stop() ends background retries: an edge that comes back after the control plane stopped gets nothing', async () => {
    const [v1] = await storedKeysets();
    const flaky = await edgeServer({ listening: false });
    const p = pusher({
      urls: [flaky.url],
      timeoutMs: 500,
      retries: 0,
      backgroundRetries: 40,
      baseDelayMs: 10,
      maxDelayMs: 50,
    });
    await within(SLACK_MS, 'the push round', p.pushAll(v1 as StoredKeyset));
    p.stop();
    await flaky.up();
    // Longer than all 40 backoffs at their cap; nothing arrives.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(flaky.received).toEqual([]);
    expect(flaky.version).toBe(0);
  });
});
