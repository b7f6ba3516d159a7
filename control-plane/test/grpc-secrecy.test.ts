/**
 * Near misses of the admin token against the real control plane on loopback with a real valkey-server: each
 * is refused, and neither the token, nor a near miss, nor a secret reaches a log line, a status message or a
 * /metrics label. (Every bad-input suite runs the same leak check after each of its tests.)
 */
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { abuseTargetForSuite, DEADLINE_MS } from '../../test/support/grpc-abuse-target.ts';
import { expectStatus } from '../../test/support/grpc-outcome.ts';

describe('the admin token and the secrets stay in (Valkey storage)', () => {
  const suiteTarget = abuseTargetForSuite();

  it('never lets the admin token or a secret reach a log line, a status message or a /metrics label', async () => {
    const target = suiteTarget();
    // Near misses: nothing, half, all but the last character, the token plus more, the token in the wrong case.
    const { adminToken } = target;
    const flip = (c: string) => (c === 'A' ? 'B' : 'A');
    const nearMisses = [
      flip(adminToken[0] as string).repeat(64),
      `${adminToken.slice(0, 32)}${flip(adminToken[32] as string).repeat(32)}`,
      `${adminToken.slice(0, 63)}${flip(adminToken[63] as string)}`,
      `${adminToken}${adminToken}`,
    ];
    for (const candidate of nearMisses) target.ledger.tokenCandidate(candidate);
    for (const candidate of nearMisses) {
      expectStatus(
        await target.rotate({ admin_token: candidate, new_secret: target.newSecret() }),
        status.PERMISSION_DENIED,
        'Invalid admin token',
      );
    }
    await target.keysetNow(); // resets the brake
    expectStatus(
      await target.call(
        target.client.getKeyset(
          { admin_token: '' },
          { bearer: nearMisses[2] as string, deadlineMs: DEADLINE_MS },
        ),
      ),
      status.PERMISSION_DENIED,
    );
    await target.keysetNow();
    // A refused secret, for the invalid_argument count below.
    expectStatus(await target.rotate({ new_secret: 'a'.repeat(31) }), status.INVALID_ARGUMENT);

    const metrics = await (await fetch(`${target.http}/metrics`)).text();
    const labelValues = [...metrics.matchAll(/\w+="([^"]*)"/g)].map((match) => match[1] as string);
    expect(labelValues.length).toBeGreaterThan(0);
    for (const value of labelValues) {
      expect(value.length, 'a metric label value').toBeLessThan(64);
    }
    expect(metrics).toMatch(/keyward_admin_calls_total\{rpc="RotateSecret",outcome="invalid_argument"\} \d+/);

    // The scan reads every status message received here: the near misses', the bearer's, the refused secret's.
    expect(target.statusDetails.length).toBeGreaterThanOrEqual(nearMisses.length + 2);
    await target.expectNothingLeaked();
  });
});
