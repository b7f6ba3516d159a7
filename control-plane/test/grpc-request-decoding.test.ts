/**
 * Hand-encoded request bytes against the real control plane on loopback with a real valkey-server: unknown
 * fields, bytes that are not UTF-8 and wrong wire types. The server's strict decoder
 * (grpc/strict-request-decoder.ts) answers each with a clear status and changes nothing.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { encodeBase64url, utf8 } from '../../shared/base64url.ts';
import { computeKid } from '../../shared/kid.ts';
import { abuseTargetForSuite, notUtf8 } from '../../test/support/grpc-abuse-target.ts';
import { expectStatus } from '../../test/support/grpc-outcome.ts';
import {
  i32Field,
  i64Field,
  lenField,
  message,
  type SecretServiceMethod,
  tag,
  varint,
  varintField,
  WIRE,
} from '../../test/support/hand-encoded-requests.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

function bearerMetadata(token: string): Metadata {
  const metadata = new Metadata();
  metadata.add('authorization', `Bearer ${token}`);
  return metadata;
}

describe('hand-encoded requests (Valkey storage)', () => {
  const suiteTarget = abuseTargetForSuite();

  it('ignores unknown fields of every wire type (proto3) and still applies the known ones', async () => {
    const target = suiteTarget();
    const before = (await target.keysetNow()).version;
    const secret = target.newSecret();
    const unknown = [
      varintField(9, 2n ** 63n),
      i64Field(6),
      lenField(7, [0xff, 0xfe, 0x00, 0x80]),
      i32Field(8),
      lenField(1000, 'not-a-field'),
      varintField(2 ** 29 - 1, 1),
    ];
    const request = message(
      ...unknown,
      lenField(1, target.adminToken),
      ...unknown,
      lenField(2, secret),
      varintField(4, 0),
    );
    const rotated = await target.rawCall('RotateSecret', request);
    expect(rotated.error).toBeUndefined();
    expect(rotated.response).toMatchObject({
      success: true,
      version: before + 1,
      kid: await computeKid(secret),
    });
    expect(
      (await target.admin.get(VALKEY_KEYS.active)) === secret,
      'jwt_secrets:active is the secret sent',
    ).toBe(true);
    const read = await target.rawCall(
      'GetKeyset',
      message(lenField(9, 'x'), lenField(1, target.adminToken), varintField(2, 7)),
    );
    expect(read.response?.version).toBe(before + 1);
  });

  it('installs a valid UTF-8 secret byte for byte, byte order mark and all', async () => {
    const target = suiteTarget();
    for (const secret of [target.newSecret('ünïcödé-€-𝄞'), `\uFEFF${target.newSecret('bom')}`]) {
      target.ledger.secret(secret);
      const { response, error } = await target.rawCall(
        'RotateSecret',
        message(lenField(1, target.adminToken), lenField(2, secret)),
      );
      expect(error).toBeUndefined();
      expect(response?.kid).toBe(await computeKid(secret));
      const state = JSON.parse((await target.admin.get(VALKEY_KEYS.state)) as string) as {
        keys: Array<{ status: string; k: string }>;
      };
      expect(state.keys.find((key) => key.status === 'active')?.k).toBe(encodeBase64url(utf8(secret)));
      expect(
        (await target.admin.getBuffer(VALKEY_KEYS.active))?.equals(Buffer.from(secret, 'utf8')),
        'jwt_secrets:active holds the bytes sent',
      ).toBe(true);
    }
  });

  it('refuses a new_secret that is not valid UTF-8 with INVALID_ARGUMENT, changing nothing', async () => {
    const target = suiteTarget();
    // protobufjs on Node replaced each bad byte with U+FFFD and installed that: a key other than the one sent.
    const before = await target.snapshot();
    const cases: Array<[string, number[]]> = [
      ['lone continuation byte', [0x80]],
      ['0xff', [0xff]],
      ['overlong slash', [0xc0, 0xaf]],
      ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
      ['code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['truncated sequence', [0xe2, 0x82]],
    ];
    for (const [name, bad] of cases) {
      const outcome = await target.rawCall(
        'RotateSecret',
        message(lenField(1, target.adminToken), lenField(2, notUtf8(target, bad))),
      );
      expectStatus(outcome, status.INVALID_ARGUMENT, 'new_secret is not valid UTF-8');
      expect(outcome.error?.details, name).toMatch(/^Secret rejected/);
    }
    // A valid occurrence after an invalid one does not launder the message.
    expectStatus(
      await target.rawCall(
        'RotateSecret',
        message(
          lenField(1, target.adminToken),
          lenField(2, notUtf8(target, [0x80])),
          lenField(2, target.newSecret()),
        ),
      ),
      status.INVALID_ARGUMENT,
      'not valid UTF-8',
    );
    expectStatus(
      await target.rawCall('RevokeKey', message(lenField(1, target.adminToken), lenField(2, [0x6b, 0xff]))),
      status.INVALID_ARGUMENT,
      'kid is not valid UTF-8',
    );
    expect(await target.snapshot()).toEqual(before);
  });

  it('answers PERMISSION_DENIED for an admin_token that is not valid UTF-8, even with the right bearer', async () => {
    const target = suiteTarget();
    const before = await target.snapshot();
    const tokenBytes = [...utf8(target.adminToken)];
    // The token with one stray byte inside: not UTF-8, so not the token, whatever a lenient decoder makes of it.
    const spliced = [...tokenBytes.slice(0, 32), 0x80, ...tokenBytes.slice(32)];
    expectStatus(
      await target.rawCall('RotateSecret', message(lenField(1, spliced), lenField(2, target.newSecret()))),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expectStatus(
      await target.rawCall(
        'GetKeyset',
        message(lenField(1, [...tokenBytes.slice(0, 63), 0xc3])),
        bearerMetadata(target.adminToken),
      ),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    // Bad bytes in both fields: the token is judged first, so nothing is said about the secret.
    const both = await target.rawCall(
      'RotateSecret',
      message(lenField(1, [0xff, ...tokenBytes]), lenField(2, notUtf8(target, [0xff]))),
    );
    expectStatus(both, status.PERMISSION_DENIED, 'Invalid admin token');
    expect(await target.snapshot()).toEqual(before);
  });

  it('refuses wrong wire types and malformed bytes with INVALID_ARGUMENT before looking at the token', async () => {
    const target = suiteTarget();
    const before = await target.snapshot();
    const token = lenField(1, target.adminToken);
    const secret = lenField(2, target.newSecret());
    const cases: Array<[SecretServiceMethod, string, Uint8Array, RegExp]> = [
      [
        'RotateSecret',
        'admin_token as varint',
        message(varintField(1, 5), secret),
        /field 1 \(admin_token\) has wire type 0/,
      ],
      // protobufjs took the varint as a length and swallowed the next field into admin_token.
      [
        'RotateSecret',
        'varint swallowing the next field',
        message(varintField(1, 6), token, secret),
        /wire type 0/,
      ],
      [
        'RotateSecret',
        'new_secret as 64-bit',
        message(token, i64Field(2)),
        /field 2 \(new_secret\) has wire type 1/,
      ],
      ['RotateSecret', 'new_secret as 32-bit', message(token, i32Field(2)), /wire type 5/],
      [
        'RotateSecret',
        'generate as length-delimited',
        message(token, lenField(3, [1])),
        /field 3 \(generate\)/,
      ],
      [
        'RotateSecret',
        'group',
        message(token, [...tag(9, WIRE.startGroup), ...tag(9, WIRE.endGroup)]),
        /start-group/,
      ],
      ['RotateSecret', 'wire type 6', message(token, tag(10, 6)), /wire type 6/],
      ['RotateSecret', 'wire type 7', message(token, secret, tag(10, 7)), /wire type 7/],
      ['RotateSecret', 'field number 0', message(token, [0x02, 0x00]), /field number 0/],
      ['RotateSecret', 'truncated string', message(token, [...tag(2, WIRE.len), 100, 0x61]), /truncated/],
      ['RotateSecret', 'truncated tag', message(token, [0x80]), /truncated field tag/],
      [
        'RotateSecret',
        'varint of 11 bytes',
        message(token, tag(3, 0), Array(10).fill(0xff), [0x01]),
        /longer than 10 bytes/,
      ],
      ['RotateSecret', 'tag past 32 bits', message(token, varint(2n ** 40n)), /out of range/],
      [
        'RotateSecret',
        'length past the end',
        message(token, tag(7, WIRE.len), varint(2n ** 35n)),
        /truncated/,
      ],
      ['GetKeyset', 'admin_token as 32-bit', message(i32Field(1)), /field 1 \(admin_token\)/],
      ['RevokeKey', 'kid as varint', message(token, varintField(2, 1)), /field 2 \(kid\)/],
    ];
    for (const [method, name, bytes, details] of cases) {
      const outcome = await target.rawCall(method, bytes);
      expect(outcome.error?.code, `${method}: ${name}`).toBe(status.INVALID_ARGUMENT);
      expect(outcome.error?.details, `${method}: ${name}`).toMatch(/^Malformed request: /);
      expect(outcome.error?.details, `${method}: ${name}`).toMatch(details);
    }
    // The leak check after this test reads every one of these status messages.
    expect(target.statusDetails.length).toBeGreaterThanOrEqual(cases.length);
    expect(await target.snapshot()).toEqual(before);
  });
});
