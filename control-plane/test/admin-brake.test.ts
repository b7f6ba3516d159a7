/**
 * The admin brake against an attacker with many addresses: an IPv6 /64 is one peer (one host or customer gets a
 * whole /64, and rotating through it costs nothing), an IPv4-mapped IPv6 address is its IPv4 address, and a
 * locked-out peer is never forgotten to make room for others.
 */
import { randomBytes } from 'node:crypto';
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { checkOutcome } from '../../test/support/admin-check-outcome.ts';
import { AdminAuth, MAX_PEERS } from '../src/admin-auth.ts';
import { loadConfig } from '../src/config.ts';
import { startControlPlane } from '../src/control-plane.ts';
import { connectSecretService } from '../src/grpc/secret-service-client.ts';
import { createLogger } from '../src/logger.ts';

const TOKEN = 'admin-brake-test-token-'.padEnd(64, 'x');

const outcome = (auth: AdminAuth, peer: string, token: string | undefined) =>
  checkOutcome(auth, peer, token, TOKEN);

const fail5 = (auth: AdminAuth, peer: string) => {
  for (let i = 0; i < 5; i++) outcome(auth, peer, 'wrong');
};

describe('AdminAuth brake by network', () => {
  it('brakes an IPv6 /64 as one peer: each of five failures from another address in it counts', () => {
    const auth = new AdminAuth(TOKEN, { now: () => 0 });
    const sameNetwork = [
      '2001:db8:1:2::1',
      '2001:db8:1:2::2',
      '2001:0db8:0001:0002:0000:0000:0000:0003',
      '2001:db8:1:2:abcd:ef01:2345:6789',
      '2001:DB8:1:2:FFFF:FFFF:FFFF:FFFF',
    ];
    for (const peer of sameNetwork) expect(outcome(auth, peer, 'wrong')).toBe('permission_denied');
    expect(outcome(auth, '2001:db8:1:2::99', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, '2001:db8:1:2::1.2.3.4', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, 'fe80::1', 'wrong')).toBe('permission_denied');
    // The next /64 is another peer.
    expect(outcome(auth, '2001:db8:1:3::1', 'wrong')).toBe('permission_denied');
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 address, both ways', () => {
    const auth = new AdminAuth(TOKEN, { now: () => 0 });
    fail5(auth, '::ffff:192.0.2.7');
    expect(outcome(auth, '192.0.2.7', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, '0:0:0:0:0:ffff:c000:207', 'wrong')).toBe('rate_limited');
    fail5(auth, '198.51.100.1');
    expect(outcome(auth, '::ffff:198.51.100.1', 'wrong')).toBe('rate_limited');
    // Other IPv4 addresses, mapped or not, are other peers: IPv4 is braked per address.
    expect(outcome(auth, '::ffff:192.0.2.8', 'wrong')).toBe('permission_denied');
    expect(outcome(auth, '192.0.2.9', 'wrong')).toBe('permission_denied');
  });
});

describe('AdminAuth memory of peers', () => {
  it('never forgets a locked-out peer, however many other peers fail after it', () => {
    const auth = new AdminAuth(TOKEN, { now: () => 0 });
    fail5(auth, '203.0.113.66');
    // More peers than it remembers, each failing once.
    for (let i = 0; i < MAX_PEERS + 2_000; i++)
      outcome(auth, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'wrong');
    expect(outcome(auth, '203.0.113.66', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, '203.0.113.66', TOKEN)).toBe('ok');
  });

  it('when every peer it remembers is locked out, brakes a new peer too, until lockouts end; never the right token', () => {
    let now = 0;
    // Locked out at the first failure, so that filling its memory takes one call per peer.
    const auth = new AdminAuth(TOKEN, { now: () => now, maxFailures: 1 });
    for (let i = 0; i < MAX_PEERS; i++) outcome(auth, `2001:db8:${i.toString(16)}::1`, 'wrong');
    // No room to remember a new peer's failures, so it gets none to make; the right token still passes.
    expect(outcome(auth, '2001:db8:ffff::1', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, '192.0.2.1', 'wrong')).toBe('rate_limited');
    expect(outcome(auth, '192.0.2.2', TOKEN)).toBe('ok');
    // The remembered ones are still locked out.
    expect(outcome(auth, '2001:db8:0::2', 'wrong')).toBe('rate_limited');
    now += 1_000;
    // Lockouts over: the peer that failed longest ago makes room.
    expect(outcome(auth, '2001:db8:ffff::1', 'wrong')).toBe('permission_denied');
    expect(outcome(auth, '192.0.2.1', 'wrong')).toBe('permission_denied');
    expect(outcome(auth, '192.0.2.1', 'wrong')).toBe('rate_limited');
  });
});

describe('the brake over real gRPC from ::1', () => {
  it('locks out the IPv6 loopback peer after five wrong tokens (seen in /metrics, answered PERMISSION_DENIED), and lets its right token through', async () => {
    const adminToken = randomBytes(48).toString('base64url');
    const config = loadConfig({
      ADMIN_TOKEN: adminToken,
      SECRET_STORAGE: 'env',
      JWT_SECRET: randomBytes(48).toString('base64'),
      ROTATION_INTERVAL: 'off',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HOST: '::1',
    });
    const controlPlane = await startControlPlane(config, createLogger('error', { write: () => {} }));
    const client = connectSecretService(`[::1]:${controlPlane.grpcPort}`, credentials.createInsecure());
    const getKeyset = (token: string) =>
      client.getKeyset({ admin_token: token }, { deadlineMs: 10_000 }).then(
        () => 'OK',
        (error: ServiceError) => `${status[error.code]} ${error.details}`,
      );
    const lockedOutCalls = async () => {
      const metrics = await (await fetch(`http://[::1]:${controlPlane.httpPort}/metrics`)).text();
      const line = /^keyward_admin_calls_total\{rpc="GetKeyset",outcome="rate_limited"\} (\d+)$/m.exec(
        metrics,
      );
      return Number(line?.[1] ?? 0);
    };
    try {
      expect(await getKeyset(adminToken)).toBe('OK');
      for (let i = 0; i < 5; i++)
        expect(await getKeyset('wrong')).toBe('PERMISSION_DENIED Invalid admin token');
      expect(await lockedOutCalls()).toBe(0);
      // Locked out: counted as such, answered as every wrong token is (SPEC section 2).
      expect(await getKeyset('wrong')).toBe('PERMISSION_DENIED Invalid admin token');
      expect(await lockedOutCalls()).toBe(1);
      expect(await getKeyset(adminToken)).toBe('OK');
    } finally {
      client.close();
      await controlPlane.stop();
    }
  });
});
