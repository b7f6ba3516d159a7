/**
 * StageKey, PromoteKey and RotateSecret's `alg` as bytes on the wire, against the real control plane on loopback
 * with a real valkey-server: the strict decoder takes the new fields, refuses them with a wrong wire type or
 * bytes that are not UTF-8, and a refused request changes nothing.
 */
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { computeKid } from '../../shared/kid.ts';
import { abuseTargetForSuite } from '../../test/support/grpc-abuse-target.ts';
import { expectStatus } from '../../test/support/grpc-outcome.ts';
import { lenField, message, varintField } from '../../test/support/hand-encoded-requests.ts';

describe('standby-key requests as bytes (Valkey storage)', () => {
  const suiteTarget = abuseTargetForSuite();

  it('stages an HS256 key from hand-encoded fields and promotes it with force set as a varint', async () => {
    const target = suiteTarget();
    const before = (await target.keysetNow()).version;
    const secret = target.newSecret();
    const staged = await target.rawCall(
      'StageKey',
      message(lenField(1, target.adminToken), lenField(2, 'HS256'), lenField(3, secret)),
    );
    expect(staged.error).toBeUndefined();
    expect(staged.response).toMatchObject({
      success: true,
      version: before + 1,
      kid: await computeKid(secret),
    });
    const listed = await target.keysetNow();
    expect(listed.keys.find((key) => key.kid === staged.response?.kid)).toMatchObject({
      alg: 'HS256',
      status: 'standby',
    });
    const promoted = await target.rawCall(
      'PromoteKey',
      message(
        lenField(1, target.adminToken),
        lenField(2, staged.response?.kid as string),
        varintField(3, 1),
        varintField(4, 0),
      ),
    );
    expect(promoted.error).toBeUndefined();
    expect(promoted.response).toMatchObject({ success: true, version: before + 2 });
    expect((await target.keysetNow()).keys[0]).toMatchObject({ kid: staged.response?.kid, status: 'active' });
    await target.expectNothingLeaked();
  });

  it('refuses alg with a wrong wire type or bytes that are not UTF-8, changing nothing', async () => {
    const target = suiteTarget();
    const before = await target.snapshot();
    expectStatus(
      await target.rawCall('RotateSecret', message(lenField(1, target.adminToken), varintField(5, 1))),
      status.INVALID_ARGUMENT,
      'field 5 (alg) has wire type 0',
    );
    expectStatus(
      await target.rawCall(
        'StageKey',
        message(lenField(1, target.adminToken), lenField(2, [0x45, 0xff, 0x64])),
      ),
      status.INVALID_ARGUMENT,
      'alg is not valid UTF-8',
    );
    expectStatus(
      await target.rawCall('PromoteKey', message(lenField(1, target.adminToken), lenField(3, 'yes'))),
      status.INVALID_ARGUMENT,
      'field 3 (force) has wire type 2',
    );
    expect(await target.snapshot()).toEqual(before);
  });

  it('asks for the admin token before anything else', async () => {
    const target = suiteTarget();
    const before = await target.snapshot();
    expectStatus(
      await target.rawCall('StageKey', message(lenField(1, 'wrong'), lenField(2, 'EdDSA'))),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expectStatus(
      await target.rawCall('PromoteKey', message(lenField(2, 'some-kid'), varintField(3, 1))),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expect(await target.snapshot()).toEqual(before);
  });
});
