/**
 * Runs inside workerd (bundled by workerd-verify.ts): loops N verifies of one case per request, so the driver
 * can time Keyward's verify against a raw crypto.subtle.verify lower bound on the Workers runtime: HS256, and
 * EdDSA and ES256 (cases `<name>/eddsa`, `<name>/es256`) with a public keyset.
 */
import { jwtVerify } from 'jose';
import { type KeyRing, prepareKeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { VerifiedTokenCache } from '../../shared/verified-token-cache.ts';
import { webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, type VerifyOptions, verifyToken } from '../../shared/verify-token.ts';

type AsymmetricAlg = 'EdDSA' | 'ES256';

export interface WorkerSetup {
  keyset: Keyset;
  /** Newest first. */
  secrets: { kid: string; secret: string }[];
  tokens: { withKid: string; noKidOldest: string; badSignature: string };
  asymmetric: {
    /** Public: an EdDSA and an ES256 key. */
    keyset: Keyset;
    tokens: Record<AsymmetricAlg, string>;
    badSignature: Record<AsymmetricAlg, string>;
  };
}

/** A key of the lower bound: imported once, verified with its own algorithm's parameters. */
interface RawKey {
  kid: string;
  alg: string;
  key: CryptoKey;
  params: AlgorithmIdentifier | EcdsaParams;
}

interface State {
  ring: KeyRing;
  raw: RawKey[];
  rawByKid: Map<string, RawKey>;
  joseKey: CryptoKey;
  tokens: WorkerSetup['tokens'];
  cache: VerifiedTokenCache;
  asymmetric: {
    ring: KeyRing;
    raw: RawKey[];
    rawByKid: Map<string, RawKey>;
    joseKeys: Record<AsymmetricAlg, CryptoKey>;
    tokens: Record<AsymmetricAlg, string>;
    badSignature: Record<AsymmetricAlg, string>;
  };
}

const OPTIONS: VerifyOptions = {
  algorithms: ['HS256', 'ES256', 'EdDSA'],
  clockToleranceMs: 30_000,
  maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
  now: Date.now,
};
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const fromBase64 = (Uint8Array as unknown as { fromBase64?: (text: string, options: object) => Uint8Array })
  .fromBase64;
let state: State | undefined;

// The plainest decoding the platform offers: Uint8Array.fromBase64 where it exists, else atob.
function bytesOf(segment: string): Uint8Array {
  if (fromBase64 !== undefined) return fromBase64(segment, { alphabet: 'base64url' });
  const binary = atob(segment.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** By hand, as workerd-verify.ts describes; `s` holds the keys (the HS256 ones, or the asymmetric ones). */
async function rawVerify(s: Pick<State, 'raw' | 'rawByKid'>, token: string): Promise<boolean> {
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0) return false;
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(decoder.decode(bytesOf(token.slice(0, dot1))));
    claims = JSON.parse(decoder.decode(bytesOf(token.slice(dot1 + 1, dot2))));
  } catch {
    return false;
  }
  const data = encoder.encode(token.slice(0, dot2));
  const signature = bytesOf(token.slice(dot2 + 1)) as BufferSource;
  const fixedLength = header.alg === 'HS256' || signature.byteLength === 64;
  let ok = false;
  if (typeof header.kid === 'string') {
    const raw = s.rawByKid.get(header.kid);
    ok =
      raw !== undefined &&
      raw.alg === header.alg &&
      fixedLength &&
      (await crypto.subtle.verify(raw.params, raw.key, signature, data));
  } else {
    for (const raw of s.raw) {
      if (raw.alg !== header.alg || !fixedLength) continue;
      if (await crypto.subtle.verify(raw.params, raw.key, signature, data)) {
        ok = true;
        break;
      }
    }
  }
  if (!ok) return false;
  const now = Date.now();
  if (typeof claims.exp === 'number' && now >= claims.exp * 1000 + 30_000) return false;
  return !(typeof claims.nbf === 'number' && now < claims.nbf * 1000 - 30_000);
}

async function importAsymmetric(entry: Keyset['keys'][number]): Promise<RawKey> {
  if (entry.alg === 'ES256') {
    const jwk = { kty: 'EC', crv: 'P-256', x: entry.x, y: entry.y };
    const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'verify',
    ]);
    return { kid: entry.kid, alg: 'ES256', key, params: { name: 'ECDSA', hash: 'SHA-256' } };
  }
  if (entry.alg !== 'EdDSA') throw new Error(`not an asymmetric key: ${entry.alg}`);
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: entry.x };
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['verify']);
  return { kid: entry.kid, alg: 'EdDSA', key, params: 'Ed25519' };
}

async function setup(body: WorkerSetup): Promise<State> {
  const raw: RawKey[] = [];
  for (const { kid, secret } of body.secrets) {
    const key = await crypto.subtle.importKey(
      'raw',
      encoder.encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    raw.push({ kid, alg: 'HS256', key, params: 'HMAC' });
  }
  const asymmetricRaw = await Promise.all(body.asymmetric.keyset.keys.map(importAsymmetric));
  // jose gets its own imports of the same public keys, as its users would hand it.
  const joseKeys = Object.fromEntries(
    await Promise.all(
      body.asymmetric.keyset.keys.map(async (entry) => [entry.alg, (await importAsymmetric(entry)).key]),
    ),
  ) as Record<AsymmetricAlg, CryptoKey>;
  return {
    ring: await prepareKeyRing(body.keyset, webCryptoVerify),
    raw,
    rawByKid: new Map(raw.map((r) => [r.kid, r])),
    joseKey: (raw[0] as RawKey).key,
    tokens: body.tokens,
    cache: new VerifiedTokenCache(OPTIONS, { maxEntries: 10_000 }),
    asymmetric: {
      ring: await prepareKeyRing(body.asymmetric.keyset, webCryptoVerify),
      raw: asymmetricRaw,
      rawByKid: new Map(asymmetricRaw.map((r) => [r.kid, r])),
      joseKeys,
      tokens: body.asymmetric.tokens,
      badSignature: body.asymmetric.badSignature,
    },
  };
}

type Case = (s: State) => Promise<boolean>;

const CASES: Record<string, Case> = {
  'lower-bound': (s) => rawVerify(s, s.tokens.withKid),
  keyward: async (s) => (await verifyToken(s.tokens.withKid, s.ring, OPTIONS)).valid,
  'jose-cryptokey': async (s) =>
    typeof (await jwtVerify(s.tokens.withKid, s.joseKey, { algorithms: ['HS256'] })).payload.sub === 'string',
  'subtle-verify-only': (s) => {
    // Only the HMAC: the floor under any verifier on this runtime.
    const token = s.tokens.withKid;
    const dot2 = token.lastIndexOf('.');
    return crypto.subtle.verify(
      'HMAC',
      s.raw[0]?.key as CryptoKey,
      bytesOf(token.slice(dot2 + 1)) as BufferSource,
      encoder.encode(token.slice(0, dot2)),
    );
  },
  'lower-bound/no-kid-4-keys': (s) => rawVerify(s, s.tokens.noKidOldest),
  'keyward/no-kid-4-keys': async (s) => (await verifyToken(s.tokens.noKidOldest, s.ring, OPTIONS)).valid,
  'lower-bound/bad-signature': async (s) => !(await rawVerify(s, s.tokens.badSignature)),
  'keyward/bad-signature': async (s) => !(await verifyToken(s.tokens.badSignature, s.ring, OPTIONS)).valid,
  'keyward/cache-hit': async (s) => (await s.cache.verify(s.tokens.withKid, s.ring)).valid,
  ...asymmetricCases('EdDSA'),
  ...asymmetricCases('ES256'),
};

/** The lower bound, Keyward, jose and a bad signature for one asymmetric algorithm. */
function asymmetricCases(alg: AsymmetricAlg): Record<string, Case> {
  const x = alg.toLowerCase();
  return {
    [`lower-bound/${x}`]: (s) => rawVerify(s.asymmetric, s.asymmetric.tokens[alg]),
    [`keyward/${x}`]: async (s) =>
      (await verifyToken(s.asymmetric.tokens[alg], s.asymmetric.ring, OPTIONS)).valid,
    [`jose-cryptokey/${x}`]: async (s) =>
      typeof (await jwtVerify(s.asymmetric.tokens[alg], s.asymmetric.joseKeys[alg], { algorithms: [alg] }))
        .payload.sub === 'string',
    [`lower-bound/${x}/bad-signature`]: async (s) =>
      !(await rawVerify(s.asymmetric, s.asymmetric.badSignature[alg])),
    [`keyward/${x}/bad-signature`]: async (s) =>
      !(await verifyToken(s.asymmetric.badSignature[alg], s.asymmetric.ring, OPTIONS)).valid,
  };
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/setup') {
      state = await setup((await request.json()) as WorkerSetup);
      return Response.json({ cases: Object.keys(CASES), fromBase64: fromBase64 !== undefined });
    }
    const run = CASES[url.searchParams.get('case') ?? ''];
    if (state === undefined || run === undefined)
      return new Response('no such case or no setup', { status: 400 });
    const n = Number(url.searchParams.get('n') ?? '0');
    const started = performance.now();
    let ok = 0;
    for (let i = 0; i < n; i++) if (await run(state)) ok++;
    return Response.json({ ok, n, inWorkerMs: performance.now() - started });
  },
};
