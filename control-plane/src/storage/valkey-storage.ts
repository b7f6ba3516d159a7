/**
 * Production storage in Valkey. Layout (SPEC section 4 plus the project's own keys, see README):
 *   jwt_secrets:active   the active secret, plain string (what existing services GET)
 *   jwt_secrets:keyset   the sealed keyset envelope (what edges pull)
 *   jwt_secrets:state    the keyset JSON (secrets included: Valkey access is secret access either way)
 *   jwt_secrets:version  the keyset version, the compare-and-swap guard
 *   jwt_secrets:history  hash: secret version -> {version, kid, k, created_at}; never pruned
 *   jwt_secrets:chain    hash: keyset version -> {version, hash, previous_hash} (audit/keyset-chain.ts)
 *   jwt_secrets:audit    list: one JSON entry per admin action, each chained to the one before (audit/)
 *   jwt_secrets:audit_head  the hash of the audit log's last entry, so that editing or dropping it shows
 *   jwt_secrets:changed  pub/sub channel announcing each new version
 * Every change is one Lua script, so all keys change together or not at all.
 */
import { Valkey } from 'iovalkey';
import { decodeBase64url, fromUtf8 } from '../../../shared/base64url.ts';
import { KeywardError } from '../../../shared/errors.ts';
import { activeKey } from '../../../shared/keyset.ts';
import { parseKeyset } from '../../../shared/keyset-envelope.ts';
import { type AuditAction, nextAuditEntry } from '../audit/audit-entry.ts';
import { chainLink } from '../audit/keyset-chain.ts';
import { ControlPlaneError, StorageUnavailableError } from '../errors.ts';
import type { KeysetStorage, StorageFacts, StoredKeyset } from './keyset-storage.ts';

export const VALKEY_KEYS = {
  active: 'jwt_secrets:active',
  keyset: 'jwt_secrets:keyset',
  state: 'jwt_secrets:state',
  version: 'jwt_secrets:version',
  history: 'jwt_secrets:history',
  chain: 'jwt_secrets:chain',
  audit: 'jwt_secrets:audit',
  auditHead: 'jwt_secrets:audit_head',
  changed: 'jwt_secrets:changed',
  lockPrefix: 'jwt_secrets:lock:',
} as const;

/**
 * The compare-and-swap: 0 when the guard moved (or the audit log's tail is not the one its new entry chains
 * to), -N when the history already holds secret version N for another kid (a history entry is never kept
 * silently over a different secret), 1 when written. Checks come before the first write: a script that fails
 * half-way keeps what it wrote. The keyset, its chain link and the audit entry change in this one step.
 */
const SWAP_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
if ARGV[9] ~= '' and (redis.call('LINDEX', KEYS[7], -1) or '') ~= ARGV[8] then return 0 end
for i = 11, #ARGV, 2 do
  local held = redis.call('HGET', KEYS[5], ARGV[i])
  if held and cjson.decode(held).kid ~= cjson.decode(ARGV[i + 1]).kid then return -tonumber(ARGV[i]) end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[4], ARGV[5]) end
for i = 11, #ARGV, 2 do redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[6], ARGV[2], ARGV[7])
if ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[7], ARGV[9])
  redis.call('SET', KEYS[8], ARGV[10])
end
redis.call('PUBLISH', ARGV[6], ARGV[2])
return 1
`;

export interface ValkeyStorageOptions {
  url: string;
  /** Extra TLS options for rediss:// (a private CA, for instance). */
  tls?: { ca?: string | Buffer };
  connectTimeoutMs?: number;
  /**
   * Longest wait for a reply (default 5 s): then the call fails as unavailable and a connection that stays silent
   * is dropped and made again. Without it a blackholed Valkey (packets dropped, a stuck middlebox) hangs calls
   * forever. Also the pub/sub connection's ping interval, so that a silently dead one is noticed.
   */
  commandTimeoutMs?: number;
}

export interface HistoryEntry {
  version: number;
  kid: string;
  k: string;
  created_at: string;
}

export class ValkeyStorage implements KeysetStorage {
  readonly kind = 'valkey';
  readonly #client: Valkey;
  readonly #options: ValkeyStorageOptions;
  readonly #commandTimeoutMs: number;

  constructor(options: ValkeyStorageOptions) {
    this.#options = options;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 5_000;
    this.#client = new Valkey(options.url, {
      lazyConnect: true,
      // Fail fast when Valkey is away (UNAVAILABLE), reconnect in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      commandTimeout: this.#commandTimeoutMs,
      socketTimeout: this.#commandTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      ...(options.tls ? { tls: options.tls } : {}),
    });
    // Errors surface on the calls; the client's own 'error' events would otherwise crash the process.
    this.#client.on('error', () => {});
  }

  async connect(): Promise<void> {
    await this.#call(() => this.#client.connect());
  }

  async load(): Promise<StoredKeyset | null> {
    const [state, envelope] = await this.#call(() =>
      this.#client.mget(VALKEY_KEYS.state, VALKEY_KEYS.keyset),
    );
    if (state == null) return null;
    return { keyset: parseKeyset(parseJson(state, VALKEY_KEYS.state)), envelope: envelope ?? null };
  }

  async loadLegacySecrets(): Promise<{ active: string; previous: string[] } | null> {
    const active = await this.#call(() => this.#client.get(VALKEY_KEYS.active));
    return active === null || active === '' ? null : { active, previous: [] };
  }

  async compareAndSwap(expectedVersion: number, next: StoredKeyset, action?: AuditAction): Promise<boolean> {
    const active = activeKey(next.keyset);
    const history = next.keyset.keys.flatMap((key) => [
      String(key.version),
      JSON.stringify({ version: key.version, kid: key.kid, k: key.k, created_at: key.created_at }),
    ]);
    const activeSecret = fromUtf8(decodeBase64url(active.k) as Uint8Array) as string;
    const link = JSON.stringify(await chainLink(next.keyset));
    const tail =
      action === undefined ? null : await this.#call(() => this.#client.lindex(VALKEY_KEYS.audit, -1));
    const entry = action === undefined ? null : nextAuditEntry(tail, action, next.keyset.version, new Date());
    const result = await this.#call(() =>
      this.#client.eval(
        SWAP_SCRIPT,
        8,
        VALKEY_KEYS.version,
        VALKEY_KEYS.state,
        VALKEY_KEYS.active,
        VALKEY_KEYS.keyset,
        VALKEY_KEYS.history,
        VALKEY_KEYS.chain,
        VALKEY_KEYS.audit,
        VALKEY_KEYS.auditHead,
        String(expectedVersion),
        String(next.keyset.version),
        JSON.stringify(next.keyset),
        activeSecret,
        next.envelope ?? '',
        VALKEY_KEYS.changed,
        link,
        tail ?? '',
        entry?.text ?? '',
        entry?.hash ?? '',
        ...history,
      ),
    );
    if (typeof result === 'number' && result < 0) {
      throw new ControlPlaneError(
        'failed_precondition',
        `${VALKEY_KEYS.history} already holds secret version ${-result} for another secret; not written (restore ${VALKEY_KEYS.history} with the other keys, or remove that entry once no issuer signs with it)`,
      );
    }
    return result === 1;
  }

  async inspect(): Promise<StorageFacts> {
    const [guard, active, versions] = await this.#call(() =>
      Promise.all([
        this.#client.get(VALKEY_KEYS.version),
        this.#client.get(VALKEY_KEYS.active),
        this.#client.hkeys(VALKEY_KEYS.history),
      ]),
    );
    return {
      guardVersion: Number(guard ?? 0) || 0,
      activeSecret: active,
      highestSecretVersion: Math.max(0, ...versions.map(Number).filter(Number.isSafeInteger)),
    };
  }

  async watch(onChange: (version: number) => void): Promise<() => Promise<void>> {
    const subscriber = this.#client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    subscriber.on('error', () => {});
    subscriber.on('message', (_channel: string, message: string) => onChange(Number(message)));
    // After a reconnect, changes may have been missed: report an unknown version so the cache re-reads.
    subscriber.on('ready', () => onChange(Number.NaN));
    await this.#call(() => subscriber.subscribe(VALKEY_KEYS.changed));
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

  async tryLock(name: string, ttlMs: number): Promise<boolean> {
    const ok = await this.#call(() =>
      this.#client.set(VALKEY_KEYS.lockPrefix + name, '1', 'PX', ttlMs, 'NX'),
    );
    return ok === 'OK';
  }

  describeMissingKeyset(): string {
    const { version, state, keyset, active } = VALKEY_KEYS;
    return `${version} is set but ${state} is missing; restore ${state}, ${keyset} and ${active} from a backup`;
  }

  describeGuardAhead(guard: number, held: number, consistent: boolean): string {
    const { version, state, keyset, active } = VALKEY_KEYS;
    const what = `${version} is ${guard} but ${state} holds version ${held} (a partial restore)`;
    if (consistent) return what;
    return `${what}, and ${active} is not the active secret of ${state}: restore ${state}, ${keyset}, ${active} and ${version} together from one backup, or set ${active} to the active secret of ${state}`;
  }

  /** Every secret ever installed, by secret version (for audits and tests). */
  async history(): Promise<HistoryEntry[]> {
    const all = await this.#call(() => this.#client.hgetall(VALKEY_KEYS.history));
    return Object.values(all)
      .map((json) => parseJson(json, VALKEY_KEYS.history) as HistoryEntry)
      .sort((a, b) => a.version - b.version);
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }

  get url(): string {
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
