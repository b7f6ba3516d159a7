/**
 * Requests past the size limits, against the real control plane on loopback with a real valkey-server:
 * oversized messages, compressed or not, and oversized metadata answer a clear status and change nothing.
 */
import { credentials, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { abuseTargetForSuite, DEADLINE_MS } from '../../test/support/grpc-abuse-target.ts';
import { expectStatus } from '../../test/support/grpc-outcome.ts';
import { lenField, message } from '../../test/support/hand-encoded-requests.ts';
import { MAX_REQUEST_BYTES } from '../src/grpc/grpc-server.ts';
import { connectSecretService } from '../src/grpc/secret-service-client.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

describe('requests past the size limits (Valkey storage)', () => {
  const suiteTarget = abuseTargetForSuite();

  it(`refuses requests over ${MAX_REQUEST_BYTES} bytes with RESOURCE_EXHAUSTED, compressed or not, changing nothing`, async () => {
    const target = suiteTarget();
    const { adminToken, client, ledger } = target;
    const options = { deadlineMs: DEADLINE_MS };
    const before = await target.snapshot();
    const tooBig = ledger.secret(target.newSecret('oversized').padEnd(MAX_REQUEST_BYTES + 1, 'x'));
    expectStatus(await target.rotate({ new_secret: tooBig }), status.RESOURCE_EXHAUSTED, 'larger than max');
    expectStatus(
      await target.call(client.getKeyset({ admin_token: adminToken.repeat(200) }, options)),
      status.RESOURCE_EXHAUSTED,
    );
    // 1 MiB of an unknown field: refused on its length prefix, before anything is decoded.
    expectStatus(
      await target.rawCall('RotateSecret', message(lenField(15, new Uint8Array(1 << 20)))),
      status.RESOURCE_EXHAUSTED,
    );
    // A gzip bomb: 2 MiB that compress to a few KiB are refused once decompression passes the limit.
    const gzip = connectSecretService(target.harness.grpcAddress, credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2,
    });
    try {
      const bomb = ledger.secret(target.newSecret('bomb').padEnd(2 << 20, 'y'));
      expectStatus(
        await target.call(gzip.rotateSecret({ admin_token: adminToken, new_secret: bomb }, options)),
        status.RESOURCE_EXHAUSTED,
        'decompresses to a size larger than',
      );
    } finally {
      gzip.close();
    }
    // Metadata past HTTP/2's header list limit (64 KiB) never reaches the service: the server's HTTP/2 layer
    // refuses the header block with error code 9 (COMPRESSION_ERROR). grpc-js reports INTERNAL when the stream
    // reset reaches it first, UNAVAILABLE when the closing of the whole session does; nothing else is right.
    const refusedByHttp2: Record<string, status> = {
      'Received RST_STREAM with code 9': status.INTERNAL,
      'Write error: Session closed with error code 9': status.UNAVAILABLE,
    };
    const accessLines = () => target.harness.logLines.filter((line) => line.includes('"access":true')).length;
    const accessBefore = accessLines();
    const huge = await target.call(
      client.getKeyset({ admin_token: '' }, { ...options, bearer: 'b'.repeat(100_000) }),
    );
    expect(Object.keys(refusedByHttp2)).toContain(huge.error?.details);
    expectStatus(huge, refusedByHttp2[huge.error?.details as string] as status);
    expect(accessLines(), 'an access log line for the call').toBe(accessBefore);
    // Below the limit, a long wrong bearer token is just a wrong token.
    const longBearer = ledger.tokenCandidate(`${adminToken}${'c'.repeat(32_000)}`);
    expectStatus(
      await target.call(client.getKeyset({ admin_token: '' }, { ...options, bearer: longBearer })),
      status.PERMISSION_DENIED,
      'Invalid admin token',
    );
    expect(await target.snapshot()).toEqual(before);
  });

  it('serves a request just under the limit', async () => {
    const target = suiteTarget();
    const before = (await target.keysetNow()).version;
    const long = target.ledger.secret(target.newSecret('long').padEnd(MAX_REQUEST_BYTES - 200, 'z'));
    const { response, error } = await target.rotate({ new_secret: long });
    expect(error).toBeUndefined();
    expect(response?.version).toBe(before + 1);
    expect(
      (await target.admin.get(VALKEY_KEYS.active)) === long,
      'jwt_secrets:active is the secret sent',
    ).toBe(true);
  });
});
