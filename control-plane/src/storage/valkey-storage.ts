/**
 * Production storage in Valkey. Layout (SPEC section 4 plus the project's own keys, see README):
 *   jwt_secrets:active   the HS256 secret legacy issuers sign with, plain string (what existing services GET):
 *                        the active key's, or while a key pair is active the newest previous HS256 secret;
 *                        deleted once the keyset holds no HS256 key (legacyActiveSecret)
 *   jwt_secrets:signing_key  the active key as a private JWK (SPEC section 8, signingJwk), for every issuer
 *   jwt_secrets:keyset   the sealed keyset envelope (what edges pull; never a private key)
 *   jwt_secrets:state    the keyset JSON, private keys (`d`) included: the control plane's own copy (Valkey
 *                        access is secret access either way)
 *   jwt_secrets:version  the keyset version, the compare-and-swap guard
 *   jwt_secrets:history  hash: key version -> {version, kid, k, created_at} for HS256, the public JWK
 *                        {version, kid, alg, kty, crv, x, y?, created_at} for a key pair; never pruned, never `d`
 *   jwt_secrets:chain    hash: keyset version -> {version, hash, previous_hash} (audit/keyset-chain.ts)
 *   jwt_secrets:audit    list: one JSON entry per admin action, each chained to the one before (audit/)
 *   jwt_secrets:audit_head  the hash of the audit log's last entry, so that editing or dropping it shows
 *   jwt_secrets:changed  pub/sub channel announcing each new version
 *   jwt_secrets:revocations  the revocation list's signed snapshot (shared/revocations.ts), rewritten now and then
 *   jwt_secrets:revocation_deltas  sorted set: batch serial -> the signed delta of each RevokeTokens call above the
 *                        snapshot; edges that pull through Upstash read the deltas above what they hold
 *   jwt_secrets:revocation_serial  the newest batch's serial, the revocation list's compare-and-swap guard
 *   jwt_secrets:edges    sorted set: URL of each edge that registered itself -> when its registration expires
 * Every change is one Lua script, so all keys change together or not at all. On a Cluster the keys are those of
 * cluster-layout.ts, and the three keys kept by name follow right after the script.
 */
import { Cluster, ReplyError } from 'iovalkey';
import { KeywardError } from '../../../shared/errors.ts';
import { type KeyEntry, legacyActiveSecret, signingJwk } from '../../../shared/keyset.ts';
import { parseKeyset } from '../../../shared/keyset-envelope.ts';
import { type AuditAction, nextAuditEntry } from '../audit/audit-entry.ts';
import { chainLink } from '../audit/keyset-chain.ts';
import { ConfigError, ControlPlaneError, StorageUnavailableError } from '../errors.ts';
import { CLUSTER_KEYS, writeFollowers } from './cluster-layout.ts';
import { type NodePolicy, readEvictionPolicies } from './eviction-policy.ts';
import type {
  KeysetStorage,
  RevocationDocument,
  StorageFacts,
  StoredKeyset,
  StoredRevocations,
} from './keyset-storage.ts';
import {
  createValkeyClient,
  databaseOf,
  repliesOf,
  type ValkeyClient,
  type ValkeyTarget,
} from './valkey-client.ts';

export const VALKEY_KEYS = {
  active: 'jwt_secrets:active',
  signingKey: 'jwt_secrets:signing_key',
  keyset: 'jwt_secrets:keyset',
  state: 'jwt_secrets:state',
  version: 'jwt_secrets:version',
  history: 'jwt_secrets:history',
  chain: 'jwt_secrets:chain',
  audit: 'jwt_secrets:audit',
  auditHead: 'jwt_secrets:audit_head',
  changed: 'jwt_secrets:changed',
  lockPrefix: 'jwt_secrets:lock:',
  revocations: 'jwt_secrets:revocations',
  revocationDeltas: 'jwt_secrets:revocation_deltas',
  revocationSerial: 'jwt_secrets:revocation_serial',
  edges: 'jwt_secrets:edges',
  ackProbe: 'jwt_secrets:ack_probe',
} as const;

/**
 * A RevokeTokens call's write: 0 when the serial moved (or the audit log's tail is not the one the new entry
 * chains to), 1 when written: the delta, the serial and the audit entry together.
 */
const APPEND_REVOCATIONS_SCRIPT = `
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
if ARGV[5] ~= '' and (redis.call('LINDEX', KEYS[3], -1) or '') ~= ARGV[4] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[5] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[5])
  redis.call('SET', KEYS[4], ARGV[6])
end
return 1
`;

/**
 * The revocation list read in one step (see KeysetStorage.loadRevocations): {serial} when it is ARGV[1], not 0;
 * {serial, false, deltas above ARGV[1]} when ARGV[1] is below it and not 0; else {serial, snapshot, every delta}.
 */
const LOAD_REVOCATIONS_SCRIPT = `
local stored = redis.call('GET', KEYS[1]) or '0'
local serial = tonumber(stored) or 0
local since = tonumber(ARGV[1])
if since > 0 and serial == since then return {stored} end
if since > 0 and since < serial then
  return {stored, false, redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')}
end
return {stored, redis.call('GET', KEYS[2]), redis.call('ZRANGE', KEYS[3], 0, -1)}
`;

/**
 * Folds the deltas up to ARGV[1] into the snapshot ARGV[2]: 0, changing nothing, unless the delta of serial
 * ARGV[1] itself is stored (not when a snapshot as new took it in, nor after storage went back to an older list).
 */
const COMPACT_REVOCATIONS_SCRIPT = `
if redis.call('ZCOUNT', KEYS[2], ARGV[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
return 1
`;

/**
 * The compare-and-swap: 0 when the guard moved (or the audit log's tail is not the one its new entry chains
 * to), -N when the history already holds secret version N for another kid (a history entry is never kept
 * silently over a different secret), 1 when written. Checks come before the first write: a script that fails
 * half-way keeps what it wrote. The keyset, its chain link and the audit entry change in this one step, and so
 * do jwt_secrets:active (ARGV[4]; empty when no HS256 key is left: the key is deleted, a secret is never empty)
 * and jwt_secrets:signing_key (ARGV[11]).
 */
const SWAP_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
if ARGV[9] ~= '' and (redis.call('LINDEX', KEYS[7], -1) or '') ~= ARGV[8] then return 0 end
for i = 12, #ARGV, 2 do
  local held = redis.call('HGET', KEYS[5], ARGV[i])
  if held and cjson.decode(held).kid ~= cjson.decode(ARGV[i + 1]).kid then return -tonumber(ARGV[i]) end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4]) else redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[9], ARGV[11])
if ARGV[5] ~= '' then redis.call('SET', KEYS[4], ARGV[5]) end
for i = 12, #ARGV, 2 do redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[6], ARGV[2], ARGV[7])
if ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[7], ARGV[9])
  redis.call('SET', KEYS[8], ARGV[10])
end
redis.call('PUBLISH', ARGV[6], ARGV[2])
return 1
`;

export interface ValkeyStorageOptions extends ValkeyTarget {
  connectTimeoutMs?: number;
  /**
   * Longest wait for a reply (default 5 s): then the call fails as unavailable and a connection that stays silent
   * is dropped and made again. Without it a blackholed Valkey (packets dropped, a stuck middlebox) hangs calls
   * forever. Also the pub/sub connection's ping interval, so that a silently dead one is noticed.
   */
  commandTimeoutMs?: number;
  /**
   * Replicas that must report a change (WAIT) before it is acknowledged (VALKEY_MIN_REPLICAS, default 0): with
   * fewer, the change stays written on the primary and the call fails as unavailable, saying so.
   */
  minReplicas?: number;
}

/** Why a change that was written is not acknowledged: it may or may not survive a failover. */
export class UnacknowledgedChangeError extends StorageUnavailableError {
  /** `stored`: what storage holds after a lost compare-and-swap, which may be another writer's change. */
  constructor(acknowledged: number, required: number, what: 'change' | 'stored' = 'change') {
    super(
      (what === 'change'
        ? 'The change was written on the Valkey primary but only '
        : 'Another write got there first (another caller, or this one re-sent), and what the Valkey primary ' +
          'now holds reached only ') +
        `${acknowledged} of the ${required} required replicas (VALKEY_MIN_REPLICAS) in time: it may or may not ` +
        'survive a failover. Read the keyset (GetKeyset) to see whether it is in place before retrying.',
    );
    this.name = 'UnacknowledgedChangeError';
  }
}

/** A history entry: the secret of an HS256 key, the public JWK of a key pair (its private key is not kept). */
export interface HistoryEntry {
  version: number;
  kid: string;
  created_at: string;
  /** Absent for HS256 (as the entries written before there were other algorithms). */
  alg?: 'ES256' | 'EdDSA';
  k?: string;
  kty?: string;
  crv?: string;
  x?: string;
  y?: string;
}

function historyEntry(key: KeyEntry): HistoryEntry {
  const { version, kid, created_at } = key;
  if (key.alg === 'HS256') return { version, kid, k: key.k, created_at };
  const { alg, kty, crv, x } = key;
  return { version, kid, alg, kty, crv, x, ...(key.alg === 'ES256' ? { y: key.y } : {}), created_at };
}

export class ValkeyStorage implements KeysetStorage {
  readonly kind = 'valkey';
  readonly #client: ValkeyClient;
  readonly #options: ValkeyStorageOptions;
  readonly #commandTimeoutMs: number;
  /** The key names: the standalone layout, or the Cluster's (one hash slot). */
  readonly #keys: Record<keyof typeof VALKEY_KEYS, string>;
  readonly #minReplicas: number;
  /** WAIT's timeout: well within the command timeout, so that the client does not give up on WAIT first. */
  readonly #ackTimeoutMs: number;
  /** The audit log's last entry as the last load read it, with the keyset version it was read beside. */
  #loadedTail: { version: number; tail: string | null } | null = null;

  constructor(options: ValkeyStorageOptions) {
    this.#options = options;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 5_000;
    this.#minReplicas = options.minReplicas ?? 0;
    this.#ackTimeoutMs = Math.min(2_000, Math.floor(this.#commandTimeoutMs / 2));
    // Fail fast when Valkey is away (UNAVAILABLE), reconnect in the background.
    this.#client = createValkeyClient(options, {
      maxRetriesPerRequest: 1,
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      commandTimeout: this.#commandTimeoutMs,
      socketTimeout: this.#commandTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    });
    this.#keys = this.#client instanceof Cluster ? CLUSTER_KEYS : VALKEY_KEYS;
    // Errors surface on the calls; the client's own 'error' events would otherwise crash the process.
    this.#client.on('error', () => {});
  }

  async connect(): Promise<void> {
    await this.#call(() => this.#client.connect());
    // The client selects VALKEY_URL's database on every connection but goes on in database 0 when the server
    // has no such database: asked once more here, so that the refusal stops start-up instead.
    const db = databaseOf(this.#options.url);
    if (db > 0 && !(this.#client instanceof Cluster)) {
      const client = this.#client;
      await client.select(db).catch((error: unknown) => {
        // The server's refusal names the database; anything else (a dropped connection) is no configuration fault.
        if (error instanceof ReplyError)
          throw new ConfigError('VALKEY_URL', `database ${db}: ${(error as Error).message}`);
        throw new StorageUnavailableError('Secret storage unavailable', { cause: error });
      });
    }
    if (this.#client instanceof Cluster) await this.#repairFollowers(this.#client);
  }

  /** Each primary's maxmemory-policy, or why it could not be read (eviction-policy.ts). */
  evictionPolicies(): Promise<NodePolicy[]> {
    return readEvictionPolicies(this.#client);
  }

  async load(): Promise<StoredKeyset | null> {
    const keys = this.#keys;
    // The audit log's tail rides along: the swap over this keyset chains its audit entry to it, one round trip
    // fewer than reading it then (the swap script checks the tail anyway, and a moved one loses the swap).
    const [[state, envelope], tail] = (await this.#call(() =>
      repliesOf(this.#client.pipeline().mget(keys.state, keys.keyset).lindex(keys.audit, -1)),
    )) as [(string | null)[], string | null];
    if (state == null) {
      this.#loadedTail = null;
      return null;
    }
    // The control plane's own copy: the private keys of key pairs are kept here, and only here.
    const keyset = parseKeyset(parseJson(state, keys.state), { private: true });
    this.#loadedTail = { version: keyset.version, tail };
    return { keyset, envelope: envelope ?? null };
  }

  async loadLegacySecrets(): Promise<{ active: string; previous: string[] } | null> {
    const active = await this.#call(() => this.#client.get(VALKEY_KEYS.active));
    return active === null || active === '' ? null : { active, previous: [] };
  }

  async compareAndSwap(expectedVersion: number, next: StoredKeyset, action?: AuditAction): Promise<boolean> {
    const history = next.keyset.keys.flatMap((key) => [
      String(key.version),
      JSON.stringify(historyEntry(key)),
    ]);
    const activeSecret = legacyActiveSecret(next.keyset);
    // Throws keyset_invalid (nothing written) when an active key pair has lost its private key.
    const signingKey = JSON.stringify(signingJwk(next.keyset));
    const keys = this.#keys;
    const link = JSON.stringify(await chainLink(next.keyset));
    // Used once: whatever this swap's outcome, the tail read with the keyset may no longer be the log's.
    const loaded = this.#loadedTail;
    this.#loadedTail = null;
    const tail =
      action === undefined
        ? null
        : loaded?.version === expectedVersion
          ? loaded.tail
          : await this.#call(() => this.#client.lindex(keys.audit, -1));
    const entry = action === undefined ? null : nextAuditEntry(tail, action, next.keyset.version, new Date());
    // WAIT follows on the same connection (and, on a Cluster, the same node) as the script it confirms.
    const pipeline = this.#client
      .pipeline()
      .eval(
        SWAP_SCRIPT,
        9,
        keys.version,
        keys.state,
        keys.active,
        keys.keyset,
        keys.history,
        keys.chain,
        keys.audit,
        keys.auditHead,
        keys.signingKey,
        String(expectedVersion),
        String(next.keyset.version),
        JSON.stringify(next.keyset),
        activeSecret ?? '',
        next.envelope ?? '',
        keys.changed,
        link,
        tail ?? '',
        entry?.text ?? '',
        entry?.hash ?? '',
        signingKey,
        ...history,
      );
    if (this.#minReplicas > 0) pipeline.wait(this.#minReplicas, this.#ackTimeoutMs);
    const results = await this.#call(() => repliesOf(pipeline));
    const result = results[0];
    if (typeof result === 'number' && result < 0) {
      throw new ControlPlaneError(
        'failed_precondition',
        `${keys.history} already holds secret version ${-result} for another secret; not written (restore ${keys.history} with the other keys, or remove that entry once no issuer signs with it)`,
      );
    }
    if (result !== 1) {
      await this.#confirmStored({ followers: true });
      return false;
    }
    let acknowledged = this.#minReplicas > 0 ? Number(results[1]) : Number.POSITIVE_INFINITY;
    if (this.#client instanceof Cluster) {
      const client = this.#client;
      const values = {
        version: next.keyset.version,
        active: activeSecret,
        envelope: next.envelope,
        signingKey,
      };
      const followers = await this.#call(() =>
        writeFollowers(client, values, this.#minReplicas, this.#ackTimeoutMs),
      ).catch((error) => {
        throw new StorageUnavailableError(
          `The change is stored but jwt_secrets:active, jwt_secrets:keyset and jwt_secrets:signing_key could not all be updated; they follow at the next change or control plane start`,
          { cause: error },
        );
      });
      acknowledged = Math.min(acknowledged, followers);
    }
    if (acknowledged < this.#minReplicas)
      throw new UnacknowledgedChangeError(acknowledged, this.#minReplicas);
    return true;
  }

  async loadRevocations(since: number): Promise<StoredRevocations> {
    const { revocations, revocationDeltas, revocationSerial } = this.#keys;
    const [serial, snapshot, deltas] = (await this.#call(() =>
      this.#client.eval(
        LOAD_REVOCATIONS_SCRIPT,
        3,
        revocationSerial,
        revocations,
        revocationDeltas,
        String(since),
      ),
    )) as [string, string | null | undefined, string[] | undefined];
    return { serial: Number(serial) || 0, snapshot: snapshot ?? null, deltas: deltas ?? [] };
  }

  async appendRevocations(
    expectedSerial: number,
    delta: RevocationDocument,
    action?: AuditAction,
  ): Promise<boolean> {
    const keys = this.#keys;
    // This appends to the audit log too: a tail read with the keyset before is no longer its tail.
    this.#loadedTail = null;
    const tail = action === undefined ? null : await this.#call(() => this.#client.lindex(keys.audit, -1));
    const entry = action === undefined ? null : nextAuditEntry(tail, action, delta.serial, new Date());
    const pipeline = this.#client
      .pipeline()
      .eval(
        APPEND_REVOCATIONS_SCRIPT,
        4,
        keys.revocationSerial,
        keys.revocationDeltas,
        keys.audit,
        keys.auditHead,
        String(expectedSerial),
        String(delta.serial),
        delta.document,
        tail ?? '',
        entry?.text ?? '',
        entry?.hash ?? '',
      );
    if (this.#minReplicas > 0) pipeline.wait(this.#minReplicas, this.#ackTimeoutMs);
    const results = await this.#call(() => repliesOf(pipeline));
    if (results[0] !== 1) {
      // The revocation list lives in the slot alone: no keys kept by name to bring along.
      await this.#confirmStored({ followers: false });
      return false;
    }
    const acknowledged = this.#minReplicas > 0 ? Number(results[1]) : Number.POSITIVE_INFINITY;
    if (acknowledged < this.#minReplicas)
      throw new UnacknowledgedChangeError(acknowledged, this.#minReplicas);
    return true;
  }

  async compactRevocations(snapshot: RevocationDocument): Promise<boolean> {
    const { revocations, revocationDeltas } = this.#keys;
    // No WAIT: the list reads the same before and after, so a failover that loses this step loses nothing.
    const written = await this.#call(() =>
      this.#client.eval(
        COMPACT_REVOCATIONS_SCRIPT,
        2,
        revocations,
        revocationDeltas,
        String(snapshot.serial),
        snapshot.document,
      ),
    );
    return written === 1;
  }

  async registerEdge(url: string, expiresAt: number): Promise<void> {
    const key = this.#keys.edges;
    await this.#call(() =>
      this.#client.multi().zadd(key, expiresAt, url).zremrangebyscore(key, '-inf', Date.now()).exec(),
    );
  }

  async registeredEdges(now: number, limit: number): Promise<string[]> {
    return this.#call(() =>
      this.#client.zrangebyscore(this.#keys.edges, `(${now}`, '+inf', 'LIMIT', 0, limit),
    );
  }

  /**
   * Brings the keys kept by name up to the slot's keyset (a writer may have stopped between the two steps); with
   * `minReplicas`, confirmed on that many replicas of each node. Returns the fewest that acknowledged.
   */
  async #repairFollowers(client: Cluster, minReplicas = 0): Promise<number> {
    const [version, active, envelope, signingKey] = await this.#call(() =>
      client.mget(CLUSTER_KEYS.version, CLUSTER_KEYS.active, CLUSTER_KEYS.keyset, CLUSTER_KEYS.signingKey),
    );
    // No keyset written yet: jwt_secrets:active may hold the legacy secret the first start bootstraps from.
    if (version == null) return Number.POSITIVE_INFINITY;
    const values = {
      version: Number(version),
      active: active ?? null,
      envelope: envelope ?? null,
      signingKey: signingKey ?? null,
    };
    return this.#call(() => writeFollowers(client, values, minReplicas, this.#ackTimeoutMs));
  }

  /**
   * After a write lost its compare-and-swap, holds what storage holds now to the bar a change written here
   * meets: on VALKEY_MIN_REPLICAS replicas and, on a Cluster, in the keys kept by name; UNAVAILABLE otherwise.
   * The loser may be this call's own change: the client re-sends a write whose reply was lost with the
   * connection, the re-sent one loses to the first, and the caller then finds its change in place and answers
   * it done, which it may only when it is durable. A write of the probe key, acknowledged, vouches for every
   * write before it on the primary: replication keeps their order.
   */
  async #confirmStored({ followers }: { followers: boolean }): Promise<void> {
    let acknowledged = Number.POSITIVE_INFINITY;
    if (this.#minReplicas > 0) {
      const probe = this.#client
        .pipeline()
        .set(this.#keys.ackProbe, String(Date.now()), 'PX', 60_000)
        .wait(this.#minReplicas, this.#ackTimeoutMs);
      const replies = await this.#call(() => repliesOf(probe));
      acknowledged = Number(replies[1]);
    }
    if (followers && this.#client instanceof Cluster) {
      acknowledged = Math.min(acknowledged, await this.#repairFollowers(this.#client, this.#minReplicas));
    }
    if (acknowledged < this.#minReplicas)
      throw new UnacknowledgedChangeError(acknowledged, this.#minReplicas, 'stored');
  }

  async inspect(): Promise<StorageFacts> {
    const [guard, active, signingKey, versions] = await this.#call(() =>
      Promise.all([
        this.#client.get(this.#keys.version),
        this.#client.get(this.#keys.active),
        this.#client.get(this.#keys.signingKey),
        this.#client.hkeys(this.#keys.history),
      ]),
    );
    return {
      guardVersion: Number(guard ?? 0) || 0,
      activeSecret: active,
      signingKid: signingKey === null ? null : kidOf(signingKey),
      highestSecretVersion: Math.max(0, ...versions.map(Number).filter(Number.isSafeInteger)),
    };
  }

  async watch(onChange: (version: number) => void): Promise<() => Promise<void>> {
    const queueWhileAway = { enableOfflineQueue: true, maxRetriesPerRequest: null };
    const subscriber =
      this.#client instanceof Cluster
        ? this.#client.duplicate(undefined, queueWhileAway)
        : this.#client.duplicate(queueWhileAway);
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, message: string) => onChange(Number(message)));
    // After a reconnect, changes may have been missed: report an unknown version so the cache re-reads.
    subscriber.on('ready', () => onChange(Number.NaN));
    await this.#call(() => subscriber.subscribe(this.#keys.changed));
    // A subscriber sends nothing, so a connection that died silently would go unnoticed (and changes missed
    // until the cache TTL): a ping's missing reply lets the socket timeout drop it, and the reconnection re-read.
    const heartbeat = setInterval(() => {
      if (subscriber.status === 'ready') subscriber.ping().catch(() => {});
    }, this.#commandTimeoutMs);
    heartbeat.unref();
    return async () => {
      clearInterval(heartbeat);
      subscriber.disconnect();
    };
  }

  async auditTail(count: number): Promise<string[]> {
    if (count <= 0) return [];
    return this.#call(() => this.#client.lrange(this.#keys.audit, -count, -1));
  }

  async tryLock(name: string, ttlMs: number): Promise<boolean> {
    const ok = await this.#call(() => this.#client.set(this.#keys.lockPrefix + name, '1', 'PX', ttlMs, 'NX'));
    return ok === 'OK';
  }

  describeMissingKeyset(): string {
    const { version, state, keyset, active, signingKey } = this.#keys;
    return `${version} is set but ${state} is missing; restore ${state}, ${keyset}, ${active} and ${signingKey} from a backup`;
  }

  describeGuardAhead(guard: number, held: number, consistent: boolean): string {
    const { version, state, keyset, active, signingKey } = this.#keys;
    const what = `${version} is ${guard} but ${state} holds version ${held} (a partial restore)`;
    if (consistent) return what;
    return (
      `${what}, and ${active} does not agree with ${state} (it holds the active HS256 secret, or while a key ` +
      `pair is active the newest previous HS256 secret, and is absent when ${state} holds no HS256 key): ` +
      `restore ${state}, ${keyset}, ${active}, ${signingKey} and ${version} together from one backup, or set ` +
      `(or delete) ${active} to agree with ${state}`
    );
  }

  /** Every secret ever installed, by secret version (for audits and tests). */
  async history(): Promise<HistoryEntry[]> {
    const all = await this.#call(() => this.#client.hgetall(this.#keys.history));
    return Object.values(all)
      .map((json) => parseJson(json, this.#keys.history) as HistoryEntry)
      .sort((a, b) => a.version - b.version);
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }

  get url(): string | undefined {
    return this.#options.url;
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new StorageUnavailableError('Secret storage unavailable', { cause: error });
    }
  }
}

/** The kid of a stored signing key, or null when it names none (never its key material). */
function kidOf(json: string): string | null {
  try {
    const kid = (JSON.parse(json) as { kid?: unknown }).kid;
    return typeof kid === 'string' ? kid : null;
  } catch {
    return null;
  }
}

/**
 * JSON.parse for values that hold secrets: its SyntaxError quotes the text around the fault, which here would
 * be key material on its way to a log. The error names the Valkey key instead.
 */
function parseJson(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KeywardError('keyset_invalid', `${key} in Valkey is not valid JSON`);
  }
}
