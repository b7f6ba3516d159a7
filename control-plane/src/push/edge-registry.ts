/**
 * Edges that register themselves (`POST /edges` with EDGE_REGISTRATION_TOKEN): each announces the URL the control
 * plane reaches it at and renews that lease before EDGE_LEASE runs out. Leases live in storage, so every replica
 * pushes to every registered edge; a lease that is not renewed expires and the edge stops being a target (and
 * stops counting for promotions). EDGE_URLS targets are always targets.
 *
 * Announcing rather than subscribing (a stream each edge opens to the control plane): pushes keep travelling on
 * the path they already use, the same PUT, the same confirmation and inventory, and any replica can push to any
 * edge without holding a connection from it. An edge that cannot be reached (behind NAT, a Worker) pulls instead
 * (KEYSET_URL), which needs no registration at all.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeysetStorage } from '../storage/keyset-storage.ts';

/** At most this many registered edges are pushed to; more are refused (a bound on what a leaked token can add). */
export const MAX_REGISTERED_EDGES = 5_000;
const MAX_URL_LENGTH = 2_048;

export interface EdgeRegistryOptions {
  storage: KeysetStorage;
  /** EDGE_URLS: always targets, never expire. */
  staticUrls: readonly string[];
  /** EDGE_REGISTRATION_TOKEN; undefined: registration is off. */
  token: string | undefined;
  leaseMs: number;
  /** Told the full target list whenever it changes, and which URLs are new in it. */
  onTargets: (urls: readonly string[], added: readonly string[]) => void;
  onError?: (error: Error) => void;
  now?: () => number;
}

export type RegistrationOutcome =
  | { ok: true; leaseS: number }
  | { ok: false; status: 400 | 401 | 404 | 429 | 503; error: string };

export class EdgeRegistry {
  readonly #options: EdgeRegistryOptions;
  readonly #now: () => number;
  #targets: readonly string[];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: EdgeRegistryOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#targets = [...options.staticUrls];
  }

  get enabled(): boolean {
    return this.#options.token !== undefined;
  }

  /** EDGE_URLS and every registered edge whose lease is live, as last read. */
  get targets(): readonly string[] {
    return this.#targets;
  }

  /** Reads the leases now and then every third of EDGE_LEASE (at most every 5 s), while registration is on. */
  async start(): Promise<void> {
    if (!this.enabled) return;
    await this.refresh().catch((error: Error) => this.#options.onError?.(error));
    const every = Math.min(5_000, Math.max(250, Math.floor(this.#options.leaseMs / 3)));
    this.#timer = setInterval(() => {
      this.refresh().catch((error: Error) => this.#options.onError?.(error));
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** `POST /edges`: checks the bearer token, then reads the body and checks its URL, then records the lease. */
  async register(
    authorization: string | undefined,
    readBody: () => Promise<unknown>,
  ): Promise<RegistrationOutcome> {
    const token = this.#options.token;
    if (token === undefined) return { ok: false, status: 404, error: 'edge registration is off' };
    if (!bearerMatches(authorization, token)) {
      return { ok: false, status: 401, error: 'invalid registration token' };
    }
    const url = edgeUrl(await readBody().catch(() => undefined));
    if (typeof url !== 'string') return { ok: false, status: 400, error: url.error };
    const known = this.#targets.includes(url);
    if (!known && this.#targets.length >= this.#options.staticUrls.length + MAX_REGISTERED_EDGES) {
      return { ok: false, status: 429, error: `at most ${MAX_REGISTERED_EDGES} registered edges` };
    }
    try {
      await this.#options.storage.registerEdge(url, this.#now() + this.#options.leaseMs);
    } catch {
      return { ok: false, status: 503, error: 'registration storage unreachable' };
    }
    // A new edge is pushed to at once, not at the next read of the leases.
    if (!known) await this.refresh().catch(() => {});
    return { ok: true, leaseS: Math.ceil(this.#options.leaseMs / 1000) };
  }

  /** Reads the live leases and tells `onTargets` when the list changed. */
  async refresh(): Promise<void> {
    const registered = await this.#options.storage.registeredEdges(this.#now(), MAX_REGISTERED_EDGES);
    const next = [...new Set([...this.#options.staticUrls, ...registered])];
    const before = new Set(this.#targets);
    const added = next.filter((url) => !before.has(url));
    const changed = added.length > 0 || next.length !== this.#targets.length;
    this.#targets = next;
    if (changed) this.#options.onTargets(next, added);
  }
}

/** The URL a registration names: http(s), no credentials, no fragment, at most MAX_URL_LENGTH characters. */
function edgeUrl(body: unknown): string | { error: string } {
  const url = (body as { url?: unknown } | null)?.url;
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH) {
    return { error: `expected {"url": "<the edge's base URL>"} of at most ${MAX_URL_LENGTH} characters` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: 'url is not a URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: 'url must be http(s)' };
  if (parsed.username || parsed.password) return { error: 'url must not carry credentials' };
  if (parsed.hash || parsed.search) return { error: 'url must not carry a query or a fragment' };
  return parsed.href.replace(/\/$/, '');
}

/**
 * `Authorization: Bearer <token>` against the expected token, in constant time: both hashed first, so neither
 * the length nor any prefix of the token shows in the time taken.
 */
function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = /^Bearer +(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
  if (given === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}
