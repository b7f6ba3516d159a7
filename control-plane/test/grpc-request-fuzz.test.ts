/** Random and mutated request bytes against the real control plane on loopback (fast-check, fixed seed). */
import { randomBytes } from 'node:crypto';
import { Client, credentials, status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../test/support/grpc-abuse-target.ts';
import { settle } from '../../test/support/grpc-outcome.ts';
import {
  lenField,
  message,
  type SecretServiceMethod,
  sendRaw,
  varintField,
} from '../../test/support/hand-encoded-requests.ts';
import { loadConfig } from '../src/config.ts';
import { startControlPlane } from '../src/control-plane.ts';
import { createLogger } from '../src/logger.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const DEADLINE_MS = 20_000;

describe('random and mutated request bytes', () => {
  it('never answer anything but INVALID_ARGUMENT, PERMISSION_DENIED or RESOURCE_EXHAUSTED, and change nothing', async () => {
    const lines: string[] = [];
    const controlPlane = await startControlPlane(
      loadConfig({
        ADMIN_TOKEN,
        SECRET_STORAGE: 'env',
        JWT_SECRET: `fuzz-${randomBytes(30).toString('base64')}`,
        GRPC_PORT: '0',
        HTTP_PORT: '0',
        HOST: '127.0.0.1',
        ROTATION_INTERVAL: 'off',
      }),
      createLogger('info', { write: (line: string) => void lines.push(line) }),
    );
    const raw = new Client(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    const allowed = [status.INVALID_ARGUMENT, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED];
    const codes = new Map<status, number>();
    try {
      const before = fingerprint(await controlPlane.manager.keyset());
      // Unrelated to ADMIN_TOKEN, so that a counterexample fast-check prints shows nothing of it.
      const wrongToken = randomBytes(48).toString('base64url');
      const valid = message(
        lenField(1, wrongToken),
        lenField(2, `fuzz-${randomBytes(30).toString('base64')}`),
        varintField(3, 0),
      );
      const methods = fc.constantFrom<SecretServiceMethod>('RotateSecret', 'GetKeyset', 'RevokeKey');
      const noise = fc.tuple(methods, fc.uint8Array({ maxLength: 96 }));
      const mutated = fc
        .tuple(
          methods,
          fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          fc.nat(valid.length),
        )
        .map(([method, edits, cut]) => {
          const bytes = Uint8Array.from(valid);
          for (const [at, value] of edits) bytes[at] = value;
          return [method, bytes.subarray(0, Math.max(cut, 1))] as [SecretServiceMethod, Uint8Array];
        });
      await fc.assert(
        fc.asyncProperty(fc.oneof(noise, mutated), async ([method, bytes]) => {
          const outcome = await settle(sendRaw(raw, method, bytes, { deadlineMs: DEADLINE_MS }));
          const code = outcome.error?.code as status;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          return outcome.error !== undefined && allowed.includes(code);
        }),
        { numRuns: 400, seed: 6 },
      );
      expect(fingerprint(await controlPlane.manager.keyset())).toBe(before);
      expect(codes.get(status.INVALID_ARGUMENT)).toBeGreaterThan(0);
      expect(codes.get(status.PERMISSION_DENIED)).toBeGreaterThan(0);
      expect(lines.join('\n').includes(wrongToken.slice(0, 16)), 'the log holds the token sent').toBe(false);
    } finally {
      raw.close();
      await controlPlane.stop();
    }
  });
});
