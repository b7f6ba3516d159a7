/**
 * Algorithm pinning over HTTP under fuzzing: a real edge (createEdge with the Node primitive, as the Node entry
 * wires it) holding a keyset of HS256, ES256 and EdDSA keys in every status, pushed sealed as the control plane
 * seals it, answers POST /verify and GET /verify (forward auth) for forged and genuine tokens of every header
 * alg and kid exactly as the independent reference verifier says, with the default JWT_ALGORITHMS and a narrower
 * one. test/fuzz/alg-confusion.fuzz.test.ts fuzzes verifyToken itself; this file what reaches it over HTTP.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKEN_BYTES } from '../../shared/verify-token.ts';
import { referenceKeysOf } from '../support/confusion-rings.ts';
import { ALGS, keysetOf, NOW, POOL, tokenOf, tokenSpec } from '../support/confusion-tokens.ts';
import { verifyRequest } from '../support/http-fuzz-harness.ts';
import { type FuzzEdge, fuzzEdge } from '../support/jose-by-hand.ts';
import { EDGE_KEYS, seal } from '../support/keysets.ts';
import { type ReferenceResult, referenceVerify } from '../support/reference-jwt-verifier.ts';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const HOUR = 3_600_000;

/** Every pool key: an ES256 key active, an EdDSA key standby, the rest previous, two of them past their grace. */
const KEYSET = keysetOf({
  members: [4, 7, 0, 3, 8, 1, 5, 2, 6],
  standby: true,
  expiries: [0, 0, HOUR, -1, HOUR, 0, HOUR, HOUR, -HOUR],
  configured: [...ALGS],
});

interface EdgeSetup {
  name: string;
  algorithms: readonly string[];
  fe?: FuzzEdge;
}

const EDGES: EdgeSetup[] = [
  { name: 'default JWT_ALGORITHMS', algorithms: ALGS },
  { name: 'JWT_ALGORITHMS=ES256,EdDSA', algorithms: ['ES256', 'EdDSA'] },
];
const outcomes = new Map<string, number>();

beforeAll(async () => {
  expect(KEYSET.keys.map((key) => key.status).filter((status) => status === 'active')).toHaveLength(1);
  const envelope = await seal(KEYSET);
  for (const setup of EDGES) {
    const env =
      setup.algorithms === ALGS
        ? { ...EDGE_KEYS }
        : { ...EDGE_KEYS, JWT_ALGORITHMS: setup.algorithms.join(',') };
    setup.fe = fuzzEdge(env, () => NOW);
    const put = await setup.fe.edge.fetch(
      new Request('http://edge.test/keyset', { method: 'PUT', body: envelope }),
    );
    expect(put.status, await put.text()).toBe(200);
    setup.fe.logs.length = 0;
  }
});

afterAll(() => {
  console.info(`edge-http fuzz (algorithm confusion): ${JSON.stringify(Object.fromEntries(outcomes))}`);
});

function expected(token: string, setup: EdgeSetup): ReferenceResult {
  // The edge knows every key by kid, whatever JWT_ALGORITHMS imports.
  const keys = referenceKeysOf(KEYSET);
  return referenceVerify(token, keys, {
    algorithms: setup.algorithms,
    clockToleranceMs: 30_000,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    now: NOW,
  });
}

/** POST (JSON body and Bearer) and GET forward auth: each answers exactly the reference's verdict. */
async function checkEveryTransport(token: string, setup: EdgeSetup): Promise<ReferenceResult> {
  const want = expected(token, setup);
  const fe = setup.fe as FuzzEdge;
  for (const transport of ['post-body', 'post-bearer', 'get'] as const) {
    const response = await fe.edge.fetch(verifyRequest(transport, token));
    const body = (await response.json()) as Record<string, unknown>;
    const context = JSON.stringify({ edge: setup.name, transport, token, body });
    if (want.valid) {
      expect(response.status, context).toBe(200);
      expect(body, context).toEqual({ valid: true, kid: want.kid, claims: want.claims });
      if (transport === 'get') expect(response.headers.get('x-auth-kid')).toBe(want.kid);
    } else {
      expect(response.status, context).toBe(401);
      expect(body, context).toEqual({ valid: false, error: want.error });
      expect(response.headers.get('x-auth-kid')).toBeNull();
    }
    expect(fe.logs).toEqual([]);
  }
  const outcome = `${setup.name}: ${want.valid ? 'valid' : want.error}`;
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  return want;
}

describe('algorithm pinning over HTTP under fuzzing, against the reference verifier', () => {
  it('answers every held key own-algorithm token valid and refuses it under another kind of kid', async () => {
    for (const key of POOL) {
      const index = POOL.indexOf(key);
      const own = tokenOf({ signer: index, alg: 'own', kid: 'own', form: 'plain', exp: HOUR, now: NOW });
      const answers = await Promise.all(EDGES.map((setup) => checkEveryTransport(own.token, setup)));
      const entry = KEYSET.keys.find((held) => held.kid === key.kid);
      const expired = entry?.expires_at !== null && Date.parse(entry?.expires_at ?? '') <= NOW;
      expect(answers[0]?.valid).toBe(!expired);
      for (const other of POOL.filter((candidate) => candidate.alg !== key.alg)) {
        const forged = tokenOf({
          signer: index,
          alg: 'own',
          kid: { of: POOL.indexOf(other) },
          form: 'plain',
          exp: HOUR,
          now: NOW,
        });
        const answer = await checkEveryTransport(forged.token, EDGES[0] as EdgeSetup);
        expect(answer.valid).toBe(false);
      }
    }
  });

  it('forged and genuine tokens of every header alg, kid and signature form: exactly the reference', async () => {
    await fc.assert(
      fc.asyncProperty(tokenSpec, fc.constantFrom(...EDGES), async (spec, setup) => {
        const { token, genuine, signer } = tokenOf({ ...spec, now: NOW });
        const answer = await checkEveryTransport(token, setup);
        if (answer.valid) {
          expect(genuine).toBe(true);
          expect(answer.kid).toBe(signer.kid);
        }
      }),
      { numRuns: runs(1500) },
    );
    for (const setup of EDGES) {
      for (const outcome of [
        'valid',
        'algorithm_not_allowed',
        'signature_invalid',
        'key_unknown',
        'token_malformed',
      ]) {
        expect(outcomes.get(`${setup.name}: ${outcome}`) ?? 0, `${setup.name}: ${outcome}`).toBeGreaterThan(
          runs(1500) / 200,
        );
      }
    }
  });
});
