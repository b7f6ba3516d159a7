/** A rotation whose envelope the edges would refuse (over MAX_ENVELOPE_BYTES) changes nothing. */
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { KeywardError } from '../../shared/errors.ts';
import { MAX_ENVELOPE_BYTES } from '../../shared/keyset-envelope.ts';
import { KEYSET_SIGNING_SEED } from '../../test/support/keysets.ts';
import { toGrpcError } from '../src/grpc/status-mapping.ts';
import { KeysetManager } from '../src/keyset/keyset-manager.ts';
import { EnvStorage } from '../src/storage/env-storage.ts';

describe('keyset size limit', () => {
  it('refuses the rotation that would seal past the limit, with the keyset and envelope unchanged', async () => {
    const manager = new KeysetManager({
      storage: new EnvStorage(randomBytes(48).toString('base64')),
      keysetKey: new Uint8Array(randomBytes(32)),
      signingKey: KEYSET_SIGNING_SEED,
      gracePeriodMs: 86_400_000,
      cacheTtlMs: 300_000,
    });
    await manager.start();
    let refused: unknown;
    let rotations = 0;
    // Bounded: a key entry seals to ~360 bytes, so the limit is reached in under 400 rotations.
    while (rotations < 1_000) {
      const before = await manager.keyset();
      try {
        await manager.rotate();
        rotations++;
      } catch (error) {
        refused = error;
        expect(await manager.keyset()).toEqual(before);
        break;
      }
      expect(((await manager.keyset()).envelope as string).length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    }
    await manager.stop();
    expect(rotations).toBeGreaterThan(100);
    expect(refused).toBeInstanceOf(KeywardError);
    expect((refused as KeywardError).code).toBe('keyset_too_large');
    const mapped = toGrpcError(refused);
    expect(mapped.error.code).toBe(status.FAILED_PRECONDITION);
    expect(mapped.error.details).toMatch(/revoke previous keys or shorten GRACE_PERIOD/);
  });
});
