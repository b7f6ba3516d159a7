/** Wires config, keyset store, pull sources and the HTTP app: what every runtime entry calls. */

import { jwksMaxAgeS } from '../../shared/jwks.ts';
import { openingKeys } from '../../shared/keyset-envelope.ts';
import { RevocationSet } from '../../shared/revocations.ts';
import { type VerifyPrimitive, webCryptoVerify } from '../../shared/verify-primitive.ts';
import { parseEdgeConfig } from './config.ts';
import type { EdgeEnv } from './env.ts';
import { createApp } from './http/app.ts';
import { KeysetPushProtocol, type KeysetPushRequest, type PushAnswer } from './http/keyset-push.ts';
import { EdgeMetrics } from './http/metrics-answer.ts';
import { RevocationsPushProtocol, type RevocationsPushRequest } from './http/revocations-push.ts';
import { type VerifyAnswer, VerifyProtocol, type VerifyRequest } from './http/verify-protocol.ts';
import { KeysetStore } from './keyset/keyset-store.ts';
import { KeysetSync, type PullReason, type PullReport } from './keyset/keyset-sync.ts';
import type { KeysetSource } from './keyset/sources/keyset-source.ts';
import { KvKeysetMirror } from './keyset/sources/kv-keyset-mirror.ts';
import { type LocationCache, LocationCopy } from './keyset/sources/location-copy.ts';
import { KEYSET_REDIS_KEY, UpstashKeysetSource } from './keyset/sources/upstash-keyset-source.ts';
import { UrlKeysetSource } from './keyset/sources/url-keyset-source.ts';
import {
  type RevocationSource,
  UpstashRevocationSource,
  UrlRevocationSource,
} from './revocation/revocation-sources.ts';
import { RevocationSync } from './revocation/revocation-sync.ts';
import { TokenVerifier } from './token-verifier.ts';

export interface EdgeDeps {
  env: EdgeEnv;
  now?: () => number;
  fetch?: typeof fetch;
  /** The verify primitive; WebCrypto unless the runtime entry has a faster one. */
  primitive?: VerifyPrimitive;
  log?: (message: string) => void;
  /**
   * The cache the isolates of one location share the origin's answer through: on Workers `caches.default`,
   * taken when this is left out; null for none (Node, Deno and Bun have none, so every edge asks the origin).
   */
  locationCache?: LocationCache | null;
}

/** The part of a Workers ExecutionContext the edge uses. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

export interface Edge {
  /** The held keyset, for health checks and tests. */
  readonly store: KeysetStore;
  readonly sync: KeysetSync;
  /** The held revocations, for health checks and tests. */
  readonly revocations: RevocationSet;
  fetch(request: Request, ctx?: WaitUntil): Promise<Response>;
  /**
   * /verify without HTTP, for a runtime entry that answers it straight from its own server: the answer itself
   * when nothing had to be waited for (VerifyProtocol.respond), else a promise of it; never throws or rejects.
   */
  verify(request: VerifyRequest): VerifyAnswer | Promise<VerifyAnswer>;
  /** The most a POST /verify body may hold, for a server that reads it ahead (VerifyProtocol.bodyLimit). */
  readonly verifyBodyLimit: number;
  /** PUT /keyset without HTTP, for a runtime entry that answers it from its own server; never rejects. */
  pushKeyset(request: KeysetPushRequest): Promise<PushAnswer>;
  /** PUT /revocations without HTTP, for a runtime entry that answers it from its own server; never rejects. */
  pushRevocations(request: RevocationsPushRequest): Promise<PushAnswer>;
  /** The edge's log, for the lines a runtime entry writes after the answer (a push's logAfterAnswer). */
  log(message: string): void;
  /** A pull now, as the cron trigger does. */
  refresh(reason?: PullReason): Promise<PullReport>;
}

/** Throws EdgeError `config_invalid` naming the variable when the env is bad. */
export function createEdge(deps: EdgeDeps): Edge {
  const config = parseEdgeConfig(deps.env);
  const now = deps.now ?? Date.now;
  const fetchImpl = deps.fetch ?? ((input, init) => fetch(input, init));
  const log = deps.log ?? ((message: string) => console.warn(message));

  const store = new KeysetStore({
    primitive: deps.primitive ?? webCryptoVerify,
    algorithms: config.algorithms,
    now,
    maxStalenessMs: config.maxStalenessMs,
  });
  const origins: KeysetSource[] = [];
  const revocationSources: RevocationSource[] = [];
  if (config.keysetUrl !== undefined) {
    origins.push(new UrlKeysetSource(config.keysetUrl, fetchImpl));
    revocationSources.push(new UrlRevocationSource(config.keysetUrl, fetchImpl));
  }
  if (config.upstash !== undefined) {
    origins.push(new UpstashKeysetSource(config.upstash.url, config.upstash.token, fetchImpl));
    revocationSources.push(new UpstashRevocationSource(config.upstash.url, config.upstash.token, fetchImpl));
  }
  const keys = openingKeys(config.keysetKeys, config.verifyKeys, deps.primitive?.envelope);
  const originUrl =
    config.keysetUrl ??
    (config.upstash === undefined
      ? undefined
      : `${config.upstash.url.replace(/\/$/, '')}/get/${KEYSET_REDIS_KEY}`);
  const locationCache = deps.locationCache === undefined ? workersCache() : deps.locationCache;
  const metrics = new EdgeMetrics();
  // Pulled by each isolate itself, alongside the keyset: no KV or location copy (edge/README.md).
  const revocations = new RevocationSet();
  const revocationSync = new RevocationSync({
    set: revocations,
    verifiers: () => keys.verifiers,
    crypto: keys.crypto,
    sources: revocationSources,
    now,
    log,
    onPull: (source, outcome) => metrics.revocationsPulled(source, outcome),
  });
  const sync = new KeysetSync({
    store,
    keys,
    keysetTtlMs: config.keysetTtlMs,
    revalidateMs: config.keysetRevalidateMs,
    now,
    origins,
    mirror: config.kv === undefined ? undefined : new KvKeysetMirror(config.kv, keys),
    locationCopy:
      locationCache === null || originUrl === undefined || !Number.isFinite(config.keysetRevalidateMs)
        ? undefined
        : new LocationCopy(locationCache, originUrl, config.keysetRevalidateMs, now),
    log,
    onPull: (source, outcome) => metrics.pulled(source, outcome),
    alongside: revocationSources.length === 0 ? undefined : (reason) => revocationSync.pull(reason),
  });
  const verifier = new TokenVerifier(
    store,
    sync,
    {
      algorithms: config.algorithms,
      issuer: config.issuer,
      audience: config.audience,
      clockToleranceMs: config.clockToleranceMs,
      maxTokenBytes: config.maxTokenBytes,
      now,
    },
    config.verifyCacheSize,
    revocations,
  );
  const verify = new VerifyProtocol({
    verifier,
    store,
    sync,
    maxTokenBytes: config.maxTokenBytes,
    log,
    metrics,
    accessLog: config.accessLog,
  });
  const keysetPush = new KeysetPushProtocol({
    store,
    sync,
    revocations,
    metrics,
    now,
    log,
    accessLog: config.accessLog,
  });
  const revocationsPush = new RevocationsPushProtocol({
    revocationSync,
    metrics,
    log,
    accessLog: config.accessLog,
  });
  const app = createApp({
    store,
    sync,
    revocations,
    verify,
    keysetPush,
    revocationsPush,
    cacheStats: () => verifier.cacheStats,
    now,
    log,
    jwksMaxAgeS: jwksMaxAgeS(config.keysetTtlMs),
    metrics,
    // Off by default on Workers only: there /metrics would answer anyone on the internet (README).
    serveMetrics: config.metrics ?? !onWorkers(),
    accessLog: config.accessLog,
  });
  return {
    store,
    sync,
    revocations,
    fetch: async (request, ctx) => app.fetch(request, undefined, ctx as never),
    verify: (request) => verify.respond(request),
    verifyBodyLimit: verify.bodyLimit,
    pushKeyset: (request) => keysetPush.answer(request),
    pushRevocations: (request) => revocationsPush.answer(request),
    log,
    refresh: (reason = 'scheduled') => sync.refresh(reason),
  };
}

/** workerd says so in navigator.userAgent; Node, Bun and Deno name themselves there. */
function onWorkers(): boolean {
  return (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === 'Cloudflare-Workers';
}

/** `caches.default` where the runtime has it (Workers); Deno's `caches` has named caches only, Node and Bun none. */
function workersCache(): LocationCache | null {
  const storage = (globalThis as { caches?: { default?: LocationCache } }).caches;
  return storage?.default ?? null;
}
