/**
 * The harness of the PUT /keyset fuzz suites: a real edge (createEdge, Node HMAC primitive) holding version 2,
 * driven through edge.fetch with real Request objects, and the checks made after every case: no 5xx, no throw,
 * nothing logged as an unexpected error, and the held keyset (the very ring object, its version, its kids, and
 * what reference tokens verify to) unchanged unless a strictly newer, validly sealed keyset was pushed.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { KeyRing } from '../../shared/key-ring.ts';
import type { Keyset } from '../../shared/keyset.ts';
import { sealKeyset } from '../../shared/keyset-envelope.ts';
import { parseSigningSeed } from '../../shared/keyset-signing-key.ts';
import { computeKid } from '../../shared/kid.ts';
import { postVerify } from './edge-requests.ts';
import { type FuzzEdge, fuzzEdge, signHs, signManifestByHand } from './jose-by-hand.ts';
import { buildKeyset, EDGE_KEYS, KEYSET_SIGNING_KEY, sealingKeys, secret } from './keysets.ts';

export const NOW = Date.parse('2026-11-25T12:00:00Z');
/** Scales every property's run count; the defaults keep each file well under 30 s on a slow 2-core machine. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
export const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** The JWE header of SPEC section 9. */
export const SPEC_HEADER = { alg: 'dir', enc: 'A256GCM', cty: 'keyward-keyset+jws' };
const SEED = parseSigningSeed(KEYSET_SIGNING_KEY);
/** A manifest signed by the control plane's key (made by hand with node:crypto), for any payload. */
export const manifest = (payload: Uint8Array | string) => signManifestByHand(payload, SEED);

/** Secrets of versions 1..N, one new active secret per version. */
export const N = 8;
const SECRETS = Array.from({ length: N + 1 }, (_, v) => secret(`envelope-fuzz-v${v}`));
const exp = NOW / 1000 + 3600;

/** The edge under test holding version 2, and what it must go on answering. */
export interface Held extends FuzzEdge {
  ring: KeyRing;
}

/** What a PUT /keyset answered. */
export interface PutAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** One suite's harness: its keysets, its held edge, and the checks; `held` is replaced when the edge resets. */
export interface EnvelopeFuzz {
  /** keysets[v]: version v, active SECRETS[v], previous SECRETS[v - 1] (as a rotation leaves them). */
  keysets: Keyset[];
  /** envelopes[v]: keysets[v] sealed by the production sealer. */
  envelopes: string[];
  kids: string[];
  held: Held;
  /** A reference token signed by version v's active secret, with or without its kid. */
  token: (v: number, withKid: boolean) => string;
  put: (fe: FuzzEdge, body: BodyInit, headers?: Record<string, string>) => Promise<PutAnswer>;
  /** A fresh edge holding version 2, which becomes `held`. */
  resetHeld: () => Promise<void>;
  expectHeldUnchanged: () => Promise<void>;
  refused: (body: BodyInit, allowed: number[], error?: string) => Promise<void>;
  mutationOfV3: (mutated: string, allowed: number[]) => Promise<void>;
}

/** Registers the suite's beforeAll (keysets, held edge) and afterAll (case counts, printed as `label`). */
export function envelopeFuzz(label: string): EnvelopeFuzz {
  let cases = 0;
  let acceptedSameBytes = 0;
  let refActive: string;
  let refPrevious: string;
  let newerOnly: string;

  const fz: EnvelopeFuzz = {
    keysets: [],
    envelopes: [],
    kids: [],
    held: undefined as unknown as Held,
    token: (v, withKid) =>
      signHs(SECRETS[v] as string, withKid ? { alg: 'HS256', kid: fz.kids[v] } : { alg: 'HS256' }, {
        sub: `ref-${v}`,
        exp,
      }),
    put,
    resetHeld: async () => {
      fz.held = await holdVersion2();
    },
    expectHeldUnchanged,
    refused,
    mutationOfV3,
  };

  async function holdVersion2(): Promise<Held> {
    const fe = fuzzEdge({ ...EDGE_KEYS }, () => NOW);
    const { status } = await put(fe, fz.envelopes[2] as string);
    expect(status).toBe(200);
    return { ...fe, ring: fe.edge.store.ring as KeyRing };
  }

  beforeAll(async () => {
    for (let v = 1; v <= N; v++) {
      fz.kids[v] = await computeKid(SECRETS[v] as string);
      fz.keysets[v] = await buildKeyset(
        v,
        SECRETS[v] as string,
        v > 1 ? [{ secret: SECRETS[v - 1] as string }] : [],
      );
      // The production sealer, so the mutations start from exactly what the control plane sends.
      fz.envelopes[v] = await sealKeyset(fz.keysets[v] as Keyset, await sealingKeys());
    }
    refActive = fz.token(2, true);
    refPrevious = fz.token(1, false);
    newerOnly = fz.token(3, false);
    fz.held = await holdVersion2();
  });

  afterAll(() => {
    // A record for the report: run with --reporter=verbose to see it.
    console.info(
      `envelope fuzz (${label}): ${cases} PUT /keyset cases; ${acceptedSameBytes} re-encodings of the same bytes`,
    );
  });

  /** One PUT /keyset through edge.fetch: never a throw, never a 5xx, always a JSON body. */
  async function put(fe: FuzzEdge, body: BodyInit, headers: Record<string, string> = {}): Promise<PutAnswer> {
    cases++;
    const request = new Request('http://edge.test/keyset', {
      method: 'PUT',
      body,
      headers,
      duplex: 'half',
    } as RequestInit);
    const response = await fe.edge.fetch(request);
    const text = await response.text();
    expect(response.status, text).toBeLessThan(500);
    expect(fe.logs.filter((line) => line.includes('unexpected error'))).toEqual([]);
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  }

  /** The invariant: the held keyset is the very same, whole, and answers the reference tokens as before. */
  async function expectHeldUnchanged(): Promise<void> {
    const ring = fz.held.edge.store.ring;
    if (ring !== fz.held.ring) {
      const seen = ring?.version;
      fz.held = await holdVersion2();
      throw new Error(`the held keyset changed (now version ${seen})`);
    }
    expect(ring.version).toBe(2);
    expect([...ring.byKid.keys()].sort()).toEqual([fz.kids[2], fz.kids[1]].sort());
    const answers = await Promise.all(
      [refActive, refPrevious, newerOnly].map((t) => postVerify(fz.held.edge, t)),
    );
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as Array<Record<string, unknown>>;
    expect(answers.map((a) => a.status)).toEqual([200, 200, 401]);
    expect(bodies.map((b) => b.kid ?? b.error)).toEqual([fz.kids[2], fz.kids[1], 'signature_invalid']);
  }

  /** PUT against the held edge, then the invariant; `allowed` lists the statuses this kind of input may get. */
  async function refused(body: BodyInit, allowed: number[], error?: string): Promise<void> {
    const answer = await put(fz.held, body);
    expect(allowed, JSON.stringify(answer)).toContain(answer.status);
    if (error !== undefined) expect(answer.body.error).toBe(error);
    await expectHeldUnchanged();
  }

  /**
   * For a mutation of the v3 envelope that the edge took anyway: legitimate only if the mutation is another
   * spelling of the same sealed bytes (jose's base64url decoder, like atob, ignores non-canonical trailing bits
   * and ASCII whitespace), with the protected header segment, the AAD, untouched. Then the edge is reset.
   */
  async function expectSameSealedBytes(mutated: string, original: string): Promise<void> {
    const a = mutated.trim().split('.');
    const b = original.split('.');
    expect(a.length).toBe(5);
    expect(a[0]).toBe(b[0]);
    for (const i of [1, 2, 3, 4]) {
      expect(Buffer.from(a[i] as string, 'base64url').equals(Buffer.from(b[i] as string, 'base64url'))).toBe(
        true,
      );
    }
    acceptedSameBytes++;
    fz.held = await holdVersion2();
  }

  /** A v3 mutation: refused, or taken only when it is the same sealed bytes. */
  async function mutationOfV3(mutated: string, allowed: number[]): Promise<void> {
    const answer = await put(fz.held, mutated);
    if (answer.status === 200 && fz.held.edge.store.version === 3) {
      await expectSameSealedBytes(mutated, fz.envelopes[3] as string);
      return;
    }
    expect(allowed, `${JSON.stringify(answer)} for ${mutated}`).toContain(answer.status);
    await expectHeldUnchanged();
  }

  return fz;
}
