/**
 * The failed-token brake over gRPC: wrong tokens from one peer lock that peer out, which the access log shows;
 * the caller is answered PERMISSION_DENIED all the same (SPEC section 2), and the right token always passes.
 */
import { randomBytes } from 'node:crypto';
import { credentials, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { expectStatus, settle } from '../../test/support/grpc-outcome.ts';
import { SecrecyLedger } from '../../test/support/secrecy-ledger.ts';
import { loadConfig } from '../src/config.ts';
import { startControlPlane } from '../src/control-plane.ts';
import { connectSecretService } from '../src/grpc/secret-service-client.ts';
import { createLogger } from '../src/logger.ts';

const ADMIN_TOKEN = randomBytes(48).toString('base64url');
const DEADLINE_MS = 10_000;
const ledger = new SecrecyLedger(ADMIN_TOKEN);
const newSecret = () => ledger.newSecret('grpc-test');

describe('failed-token brake', () => {
  it('logs the lockout after repeated wrong tokens from one peer, answering each PERMISSION_DENIED; never the right token', async () => {
    const lines: string[] = [];
    const config = loadConfig({
      ADMIN_TOKEN,
      SECRET_STORAGE: 'env',
      JWT_SECRET: newSecret(),
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '127.0.0.1',
      ROTATION_INTERVAL: 'off',
    });
    const controlPlane = await startControlPlane(
      config,
      createLogger('info', { write: (line: string) => void lines.push(line) }),
    );
    const client = connectSecretService(`127.0.0.1:${controlPlane.grpcPort}`, credentials.createInsecure());
    const options = { deadlineMs: DEADLINE_MS };
    const getKeyset = (adminToken: string) => settle(client.getKeyset({ admin_token: adminToken }, options));
    try {
      const wrong = ledger.tokenCandidate('w'.repeat(64));
      const codes: status[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push((await getKeyset(wrong)).error?.code as status);
      }
      expect(codes).toEqual(Array(6).fill(status.PERMISSION_DENIED));
      expectStatus(await getKeyset(wrong), status.PERMISSION_DENIED, 'Invalid admin token');
      const outcomes = lines
        .map((line) => JSON.parse(line) as { access?: boolean; rpc?: string; outcome?: string })
        .filter((line) => line.access && line.rpc === 'GetKeyset')
        .map((line) => line.outcome);
      expect(outcomes).toEqual([...Array(5).fill('permission_denied'), 'rate_limited', 'rate_limited']);
      // The operator behind the same address is let in, and the right token clears the peer's failures.
      const rightRotation = await settle(
        client.rotateSecret({ admin_token: ADMIN_TOKEN, new_secret: newSecret() }, options),
      );
      expect(rightRotation.error).toBeUndefined();
      expect(rightRotation.response?.success).toBe(true);
      const after = await getKeyset(ADMIN_TOKEN);
      expect(after.error).toBeUndefined();
      expect(after.response?.version).toBe(2);
      expectStatus(await getKeyset(wrong), status.PERMISSION_DENIED);
      ledger.expectNoneIn('the log', lines.join('\n'));
    } finally {
      client.close();
      await controlPlane.stop();
    }
  });
});
