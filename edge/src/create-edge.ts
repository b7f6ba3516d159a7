/** Wires config, keyset store, pull sources and the HTTP app: what every runtime entry calls. */
import type { Hono } from 'hono';
import { type HmacPrimitive, webCryptoHmac } from '../../shared/hmac.ts';
import { createApp } from './app.ts';
import { edgeConfig } from './config.ts';
import type { EdgeEnv } from './env.ts';
import type { KeysetSource } from './keyset-source.ts';
import { KeysetStore } from './keyset-store.ts';
import { KeysetSync, type PullReason, type PullReport } from './keyset-sync.ts';
import { KvKeysetMirror } from './kv-keyset-mirror.ts';
import { TokenVerifier } from './token-verifier.ts';
import { UpstashKeysetSource } from './upstash-keyset-source.ts';
import { UrlKeysetSource } from './url-keyset-source.ts';
import { VerifyAnswers } from './verify-answers.ts';

export interface EdgeDeps {
  env: EdgeEnv;
  now?: () => number;
  fetch?: typeof fetch;
  /** The HMAC primitive; WebCrypto unless the runtime entry has a faster one. */
  hmac?: HmacPrimitive;
  log?: (message: string) => void;
}

/** The part of a Workers ExecutionContext the edge uses. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

export interface Edge {
  readonly app: Hono;
  readonly store: KeysetStore;
  readonly sync: KeysetSync;
  /** The /verify answers without HTTP, for a runtime entry that serves /verify directly (Node). */
  readonly answers: VerifyAnswers;
  fetch(request: Request, ctx?: WaitUntil): Promise<Response>;
  /** A pull now, as the cron trigger does. */
  refresh(reason?: PullReason): Promise<PullReport>;
}

/** Throws EdgeError `config_invalid` naming the variable when the env is bad. */
export function createEdge(deps: EdgeDeps): Edge {
  const config = edgeConfig(deps.env);
  const now = deps.now ?? Date.now;
  const fetchImpl = deps.fetch ?? ((input, init) => fetch(input, init));
  const log = deps.log ?? ((message: string) => console.warn(message));

  const store = new KeysetStore({
    primitive: deps.hmac ?? webCryptoHmac,
    algorithms: config.algorithms,
    now,
    maxStalenessMs: config.maxStalenessMs,
  });
  const origins: KeysetSource[] = [];
  if (config.keysetUrl !== undefined) origins.push(new UrlKeysetSource(config.keysetUrl, fetchImpl));
  if (config.upstash !== undefined) {
    origins.push(new UpstashKeysetSource(config.upstash.url, config.upstash.token, fetchImpl));
  }
  const sync = new KeysetSync({
    store,
    keysetKey: config.keysetKey,
    keysetTtlMs: config.keysetTtlMs,
    now,
    origins,
    mirror: config.kv === undefined ? undefined : new KvKeysetMirror(config.kv, config.keysetKey),
    log,
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
  );
  const answers = new VerifyAnswers(verifier, config.maxTokenBytes);
  const app = createApp({ store, sync, answers, cacheStats: () => verifier.cacheStats, now, log });
  return {
    app,
    store,
    sync,
    answers,
    fetch: async (request, ctx) => app.fetch(request, undefined, ctx as never),
    refresh: (reason = 'scheduled') => sync.refresh(reason),
  };
}
