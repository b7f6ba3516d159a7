/** The edge's HTTP surface (SPEC section 6) as a Hono app; transport-free parts live in their own files. */
import { type Context, Hono } from 'hono';
import { MAX_ENVELOPE_BYTES } from '../../shared/keyset-envelope.ts';
import type { VerifyResult } from '../../shared/verify-token.ts';
import { bearerToken } from './bearer-token.ts';
import { EdgeError } from './errors.ts';
import {
  type ErrorAnswer,
  forwardAuthFailure,
  INTERNAL_ERROR,
  KEYSET_UNAVAILABLE,
  keysetFailure,
  verifyFailure,
} from './http-errors.ts';
import type { KeysetStore } from './keyset-store.ts';
import type { KeysetSync } from './keyset-sync.ts';
import { readBodyText } from './read-body.ts';
import type { TokenVerifier } from './token-verifier.ts';

export interface AppParts {
  store: KeysetStore;
  sync: KeysetSync;
  verifier: TokenVerifier;
  maxTokenBytes: number;
  now: () => number;
  log: (message: string) => void;
}

// Room for `{"token": ...}` around the largest token we accept.
const VERIFY_BODY_OVERHEAD = 1024;
// Printable ASCII only: anything else cannot travel safely in an HTTP header to the upstream.
const HEADER_SAFE = /^[\x20-\x7e]*$/;

export function createApp(parts: AppParts): Hono {
  const { store, sync, verifier } = parts;
  const app = new Hono();

  const pullIfDue = async (c: Context, next: () => Promise<void>) => {
    await sync.beforeRequest((task) => background(c, task));
    await next();
  };
  app.use('/verify', pullIfDue);
  app.use('/healthz', pullIfDue);

  app.post('/verify', async (c) => {
    const token = await tokenFromPost(c.req.raw, parts.maxTokenBytes);
    const result = typeof token === 'string' ? await verifier.verify(token) : token;
    if (result === undefined) return answer(c, KEYSET_UNAVAILABLE);
    if (!result.valid) return answer(c, verifyFailure(result.error));
    return c.json({ valid: true, kid: result.kid, claims: result.claims }, 200, noStore);
  });

  app.get('/verify', async (c) => {
    const result = await verifier.verify(bearerToken(c.req.header('authorization')) ?? '');
    if (result === undefined) return answer(c, KEYSET_UNAVAILABLE);
    if (!result.valid) return answer(c, forwardAuthFailure(result.error));
    const sub = result.claims.sub;
    if (sub !== undefined && (typeof sub !== 'string' || !HEADER_SAFE.test(sub))) {
      // Fail closed: an upstream must never see "authenticated, subject unknown" for a token that has one.
      return answer(c, forwardAuthFailure('claim_invalid'));
    }
    const headers: Record<string, string> = { ...noStore, 'x-auth-kid': result.kid };
    if (sub !== undefined) headers['x-auth-subject'] = sub;
    return c.json({ valid: true, kid: result.kid, claims: result.claims }, 200, headers);
  });

  app.put('/keyset', async (c) => {
    try {
      const envelope = await readBodyText(c.req.raw, MAX_ENVELOPE_BYTES);
      if (envelope === undefined) return c.json({ error: 'envelope_malformed' }, 400);
      const { outcome, version } = await sync.push(envelope);
      if (outcome === 'taken') {
        parts.log(`keyset: took version ${version} (push)`);
        background(c, sync.publish(envelope, version));
      }
      return c.json({ version });
    } catch (error) {
      const failure = keysetFailure(error, store.version);
      if (failure === undefined) throw error;
      return answer(c, failure);
    }
  });

  app.get('/healthz', (c) => {
    const ring = store.ring;
    if (ring === undefined) return c.json({ status: 'no_keyset' }, 503, noStore);
    const now = parts.now();
    const ageS = Math.max(0, Math.floor((now - store.takenAt) / 1000));
    const confirmedS = Math.max(0, Math.floor((now - store.confirmedAt) / 1000));
    const body = { keyset_version: ring.version, keyset_age_s: ageS, keyset_confirmed_s: confirmedS };
    // Past KEYSET_MAX_STALENESS /verify answers 503 keyset_unavailable; so does health, for load balancers.
    if (store.isTooStale()) return c.json({ status: 'stale', ...body }, 503, noStore);
    return c.json({ status: 'ok', ...body }, 200, noStore);
  });

  app.notFound((c) => c.json({ error: 'not_found' }, 404));
  app.onError((error, c) => {
    parts.log(`edge: unexpected error: ${error instanceof Error ? error.name : typeof error}`);
    return answer(c, INTERNAL_ERROR);
  });
  return app;
}

const noStore = { 'cache-control': 'no-store' };

function answer<B>(c: Context, failure: ErrorAnswer<B>): Response {
  return c.json(failure.body as object, failure.status, { ...noStore, ...failure.headers });
}

/** The token of a POST /verify: the Bearer header if present, else the JSON body's `token`. */
async function tokenFromPost(request: Request, maxTokenBytes: number): Promise<string | VerifyResult> {
  const fromHeader = bearerToken(request.headers.get('authorization'));
  if (fromHeader !== undefined) return fromHeader;
  let text: string | undefined;
  try {
    text = await readBodyText(request, maxTokenBytes + VERIFY_BODY_OVERHEAD);
  } catch (error) {
    if (error instanceof EdgeError && error.code === 'body_too_large') {
      return { valid: false, error: 'token_too_large' };
    }
    throw error;
  }
  if (text === undefined) return { valid: false, error: 'token_malformed' };
  if (text.trim() === '') return '';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { valid: false, error: 'token_malformed' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { valid: false, error: 'token_malformed' };
  }
  const token = (body as { token?: unknown }).token;
  if (token === undefined || token === null) return '';
  return typeof token === 'string' ? token : { valid: false, error: 'token_malformed' };
}

/** Keeps `task` alive past the response: waitUntil on Workers; elsewhere the promise simply runs on. */
function background(c: Context, task: Promise<unknown>): void {
  let ctx: { waitUntil(promise: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // Deno, Bun and Node have no ExecutionContext; the process outlives the response anyway.
  }
  ctx?.waitUntil(task);
}
