/**
 * A network partition between replicas, against a real valkey-server: one replica cut off from Valkey by a TCP
 * proxy (reset, blackhole, half-open) while the other keeps rotating, and a rotation whose reply is lost with
 * the connection. The cut-off replica serves what it holds, refuses writes, and catches up by itself.
 */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { activeKey, type Keyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { waitUntil, within } from '../../test/support/bounded-waits.ts';
import { heldKids, verifyWithHeld } from '../../test/support/held-keys.ts';
import { useValkeyReplicas } from '../../test/support/keyset-replica.ts';
import { signToken } from '../../test/support/sign-token.ts';
import {
  type CutMode,
  type HealOptions,
  startTcpProxy,
  type TcpProxy,
} from '../../test/support/tcp-proxy.ts';
import { expectConsistent, expectSame, readLayout } from '../../test/support/valkey-layout.ts';
import { StorageUnavailableError } from '../src/errors.ts';
import { toGrpcError } from '../src/grpc/status-mapping.ts';
import type { KeysetManager } from '../src/keyset/keyset-manager.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));

let serial = 0;
/** A fresh secret of 40+ bytes, distinct across the whole file. */
const newSecret = (label: string) => `${label}-${++serial}-${randomBytes(24).toString('base64url')}`;

describe('a network partition between replicas: one cut off from Valkey by a TCP proxy, the other rotating', () => {
  let proxy: TcpProxy;
  // Registered before the Valkey hooks, so that the replicas are closed before their proxy.
  beforeEach(async () => {
    proxy = await startTcpProxy({ port: valkey.valkey.port });
  });
  afterEach(async () => {
    await proxy?.close();
  });
  const valkey = useValkeyReplicas(KEYSET_KEY);
  const replica = valkey.replicaAt;

  const partitions: Array<{ name: string; cut: CutMode; heal: HealOptions }> = [
    { name: 'connections reset, new ones refused', cut: 'reset', heal: {} },
    { name: 'blackhole, then the held connections resume', cut: 'blackhole', heal: { held: 'resume' } },
    { name: 'blackhole, then the held connections are reset', cut: 'blackhole', heal: { held: 'reset' } },
    {
      name: 'blackhole whose held connections never come back (half-open)',
      cut: 'blackhole',
      heal: { held: 'drop' },
    },
  ];

  it.each(partitions)(
    '$name: A serves its cache and refuses writes, then catches up with B by itself',
    async ({ cut, heal }) => {
      // A's timeouts are short so that the test is quick; 300 s of cache TTL so that only the reconnection,
      // not the TTL, can bring A up to date.
      const a = await replica(proxy.url, {}, { commandTimeoutMs: 1_000 });
      const b = await replica(valkey.valkey.url);
      await a.manager.start();
      await b.manager.start();
      const first = newSecret('b-before');
      const before = await b.manager.rotate({ secret: first });
      // Once A holds it, A's cache is fresh: from here only a change notification can make A read storage.
      await waitUntil('A hears of B through the proxy', async () => {
        return (await a.manager.keyset()).keyset.version === before.keyset.version;
      });
      const token = signToken(first, await computeKid(first));

      proxy.cut(cut);
      let last = before;
      for (let i = 0; i < 4; i++) last = await b.manager.rotate({ secret: newSecret('b-during') });
      const stored = await readLayout(valkey.admin);

      // Reads: A answers from what it holds.
      expectSame(await a.manager.keyset(), before, 'A serves the keyset it held');
      expect(await heldKids(a.manager)).toEqual(before.keyset.keys.map((key) => key.kid));
      expect(await verifyWithHeld(a.manager, token)).toMatchObject({ valid: true });
      // Writes: refused as storage unavailable (gRPC UNAVAILABLE) in bounded time, changing nothing.
      const attempted = newSecret('a-during');
      const refusal = await within(
        'a rotation on the cut-off replica',
        a.manager.rotate({ secret: attempted }).then(
          () => null,
          (error: unknown) => error,
        ),
      );
      expect(refusal).toBeInstanceOf(StorageUnavailableError);
      expect(toGrpcError(refusal).error.code).toBe(status.UNAVAILABLE);
      expectSame(await readLayout(valkey.admin), stored, 'a refused write changes nothing');

      proxy.heal(heal);
      // No call on A: its own reconnection (pub/sub resubscribe, heartbeat) must bring it to B's version.
      await waitUntil('A converges to B', async () => {
        return (await a.manager.keyset()).keyset.version === last.keyset.version;
      });
      expectSame(await a.manager.keyset(), last, "A holds B's latest keyset and envelope");
      expect(Object.values((await readLayout(valkey.admin)).history).join()).not.toContain(
        encodeBase64url(utf8(attempted)),
      );

      // A writes again (once its command connection is back too) and gets the next version.
      let next: Awaited<ReturnType<KeysetManager['rotate']>> | undefined;
      await waitUntil('A rotates again', async () => {
        next = await a.manager.rotate({ secret: newSecret('a-after') }).catch((error: unknown) => {
          if (error instanceof StorageUnavailableError) return undefined;
          throw error;
        });
        return next !== undefined;
      });
      expect(next?.keyset.version).toBe(last.keyset.version + 1);
      expect(activeKey(next?.keyset as Keyset).version).toBe(activeKey(last.keyset).version + 1);
      expectSame(
        (await expectConsistent(valkey.admin, KEYSET_KEY)).keyset,
        next?.keyset,
        "Valkey holds A's rotation",
      );
      await waitUntil('B sees A again', async () => {
        return (await b.manager.keyset()).keyset.version === next?.keyset.version;
      });
    },
  );

  it('a rotation that ran but whose reply was lost with the connection answers OK, and lands once', async () => {
    const a = await replica(proxy.url, {}, { commandTimeoutMs: 1_000 });
    await a.manager.start();
    const before = await a.manager.keyset();
    // The client re-sends the swap after reconnecting; the re-sent one loses the compare-and-swap to the first.
    const lost = proxy.loseReplyTo(/\$4\r\neval\r\n/i);
    const secret = newSecret('lost-reply');
    const kid = await computeKid(secret);
    const answer = await within(
      'a rotation whose reply was lost',
      a.manager.rotate({ secret }).catch((error: unknown) => error),
    );
    await lost;
    expect(answer).not.toBeInstanceOf(Error);
    const stored = answer as Awaited<ReturnType<KeysetManager['rotate']>>;
    expect(activeKey(stored.keyset).kid).toBe(kid);
    expect(activeKey(stored.keyset).version).toBe(activeKey(before.keyset).version + 1);
    expect(stored.keyset.version).toBe(before.keyset.version + 1);
    const history = await a.storage.history();
    expect(history.filter((entry) => entry.kid === kid)).toHaveLength(1);
    expectSame(
      (await expectConsistent(valkey.admin, KEYSET_KEY)).keyset,
      stored.keyset,
      'Valkey holds the rotation',
    );
  });

  it('with VALKEY_MIN_REPLICAS=1 and no replica, a rotation whose reply was lost answers UNAVAILABLE, as one whose reply came does', async () => {
    const b = await replica(valkey.valkey.url);
    await b.manager.start();
    const a = await replica(proxy.url, {}, { commandTimeoutMs: 1_000, minReplicas: 1 });
    await a.manager.start();
    const before = await a.manager.keyset();
    // The reply came: the WAIT beside the script counts no replica.
    const answered = await a.manager
      .rotate({ secret: newSecret('no-replica') })
      .catch((error: unknown) => error);
    expect(answered).toBeInstanceOf(StorageUnavailableError);
    expect(toGrpcError(answered).error.code).toBe(status.UNAVAILABLE);
    // The reply was lost: the re-sent script loses to the first, the rotation finds its key in place, and still
    // may not answer OK, since no replica holds it.
    const lost = proxy.loseReplyTo(/\$4\r\neval\r\n/i);
    const secret = newSecret('lost-no-replica');
    const answer = await within(
      'a rotation whose reply was lost, with no replica',
      a.manager.rotate({ secret }).catch((error: unknown) => error),
    );
    await lost;
    expect(answer).toBeInstanceOf(StorageUnavailableError);
    expect((answer as Error).message).toContain('0 of the 1 required replicas');
    // Written on the primary all the same, as the message says.
    const stored = await expectConsistent(valkey.admin, KEYSET_KEY);
    expect(activeKey(stored.keyset).kid).toBe(await computeKid(secret));
    expect(stored.keyset.version).toBe(before.keyset.version + 2);
  });
});
