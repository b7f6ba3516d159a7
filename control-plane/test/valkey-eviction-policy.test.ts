/**
 * The start-up check of Valkey's maxmemory-policy, against real valkey-servers: an allkeys-* policy (which may
 * evict jwt_secrets:* under memory pressure) is warned about, naming the policy and what to set; noeviction and
 * volatile-* are not; a user whose ACL refuses CONFIG gets a line saying the policy could not be checked, and the
 * control plane starts in every case. On a Cluster every primary is asked, and the one set to allkeys-* named.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test/support/control-plane-harness.ts';
import { KEYSET_KEY } from '../../test/support/keysets.ts';
import { startValkeyCluster, type ValkeyClusterSetup } from '../../test/support/valkey-cluster.ts';
import { startValkey, type ValkeyServer } from '../../test/support/valkey-server.ts';

interface LogLine {
  level: number;
  msg: string;
  node?: string;
  maxmemory_policy?: string;
  reason?: string;
}

const WARN = 40;
const INFO = 30;

describe('maxmemory-policy at start-up', () => {
  let valkey: ValkeyServer | undefined;
  let harness: Harness | undefined;
  let cluster: ValkeyClusterSetup | undefined;

  afterEach(async () => {
    await harness?.stop();
    await valkey?.stop();
    await cluster?.stop();
    harness = undefined;
    valkey = undefined;
    cluster = undefined;
  });

  /** The control plane's log lines about the policy, after a start against a Valkey started with `args`. */
  async function policyLines(args: string[], url?: (server: ValkeyServer) => string): Promise<LogLine[]> {
    valkey = await startValkey({ args });
    harness = await startHarness({ valkeyUrl: url ? url(valkey) : valkey.url, keysetKey: KEYSET_KEY });
    expect((await harness.getKeyset()).version).toBeGreaterThan(0);
    return harness.logLines
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.msg.includes('maxmemory-policy'));
  }

  it.each(['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])(
    'warns once about %s, naming it and noeviction or volatile-*',
    async (policy) => {
      const lines = await policyLines(['--maxmemory-policy', policy]);
      expect(lines).toHaveLength(1);
      const [line] = lines as [LogLine];
      expect(line.level).toBe(WARN);
      expect(line.maxmemory_policy).toBe(policy);
      expect(line.node).toBe(`127.0.0.1:${valkey?.port}`);
      expect(line.msg).toContain(`maxmemory-policy ${policy}`);
      expect(line.msg).toContain('Set maxmemory-policy noeviction, or a volatile-* policy');
    },
  );

  it.each(['noeviction', 'volatile-lru', 'volatile-ttl'])('says nothing about %s', async (policy) => {
    expect(await policyLines(['--maxmemory-policy', policy])).toEqual([]);
  });

  it('says it could not check when the ACL refuses CONFIG, and starts anyway', async () => {
    const lines = await policyLines(
      ['--user', 'keyward', 'on', '>keyward-test-password', '~*', '&*', '+@all', '-config'],
      (server) => `redis://keyward:keyward-test-password@127.0.0.1:${server.port}`,
    );
    expect(lines).toHaveLength(1);
    const [line] = lines as [LogLine];
    expect(line.level).toBe(INFO);
    expect(line.msg).toMatch(/^Could not check Valkey's maxmemory-policy on 127\.0\.0\.1:\d+ \(NOPERM/);
    expect(line.msg).toContain('noeviction or a volatile-* policy');
    expect(line.msg).not.toContain('keyward-test-password');
  });

  it('asks every primary of a Cluster and names the one with an allkeys-* policy', async () => {
    cluster = await startValkeyCluster();
    const [, second] = cluster.nodes as [ValkeyServer, ValkeyServer];
    // Set at run time, as an operator sharing the Cluster might have.
    await promisify(execFile)(
      'valkey-cli',
      ['-p', String(second.port), 'config', 'set', 'maxmemory-policy', 'allkeys-lfu'],
      {
        timeout: 5_000,
      },
    );
    harness = await startHarness({
      keysetKey: KEYSET_KEY,
      env: { VALKEY_CLUSTER_NODES: cluster.seeds.map(({ host, port }) => `${host}:${port}`).join(',') },
    });
    const lines = harness.logLines
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.msg.includes('maxmemory-policy'));
    expect(lines.map(({ level, node, maxmemory_policy }) => ({ level, node, maxmemory_policy }))).toEqual([
      { level: WARN, node: `127.0.0.1:${second.port}`, maxmemory_policy: 'allkeys-lfu' },
    ]);
  });
});
