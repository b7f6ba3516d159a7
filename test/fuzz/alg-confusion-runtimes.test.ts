/**
 * The algorithm-confusion catalogue under every runtime the edge runs on with WebCrypto: the same keysets and
 * forged tokens verified by node (node:crypto and WebCrypto), and by the real `deno` and `bun` binaries running
 * the shared verifier with their own WebCrypto and with the primitive their edge entries inject (their signature
 * checks are their own implementations). Every
 * runtime must reach the same verdict on every token: the header-alg x key-kind matrix, HS256 keyed with every
 * byte form of a public key, DER and wrong-length signatures, the high-S ECDSA twin, an unreduced Ed25519 S,
 * a P-256 key off the curve and an Ed25519 key that is no curve point.
 */
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keyset } from '../../shared/keyset.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import {
  highS,
  nonCanonicalEd25519S,
  publicKeyForms,
  signAsym,
  signatureOf,
} from '../support/asymmetric-by-hand.ts';
import { confusionRings, verdict } from '../support/confusion-rings.ts';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../support/edge-entry-commands.ts';
import { b64json } from '../support/jose-by-hand.ts';
import { buildMixedKeyset, EDDSA_PAIR, ES256_PAIR, edgeView } from '../support/key-pairs.ts';
import { referenceKid, referencePublicKid } from '../support/reference-jwt-verifier.ts';
import { type RuntimeCase, type RuntimeCases, verdictsOf } from '../support/runtime-verdicts.ts';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const SECRET = 'runtimes-hs256-secret-0123456789abcdefghij';
const ALL = ['HS256', 'ES256', 'EdDSA'];
const CLAIMS = { sub: 'runtimes', exp: NOW / 1000 + 3600 };
const HEADER_ALGS = [
  'HS256',
  'ES256',
  'EdDSA',
  'HS384',
  'HS512',
  'RS256',
  'PS256',
  'none',
  'ES256K',
  'Ed25519',
];

let dir: string;
let input: RuntimeCases;
/** The verdicts in node, checked to agree between node:crypto, WebCrypto and the reference verifier. */
let nodeVerdicts: string[];

/** Keysets: 0 mixed, 1 public keys only, 2 with a P-256 key off the curve, 3 with an Ed25519 x that is no point. */
async function keysets(): Promise<Keyset[]> {
  const mixed = edgeView(
    await buildMixedKeyset(5, [
      { key: SECRET },
      { key: ES256_PAIR, status: 'standby' },
      { key: EDDSA_PAIR, status: 'previous' },
    ]),
  );
  const publicOnly = edgeView(
    await buildMixedKeyset(3, [{ key: EDDSA_PAIR }, { key: ES256_PAIR, status: 'previous' }]),
  );
  const offCurve = { ...ES256_PAIR, y: ES256_PAIR.x };
  const offCurveKeyset = edgeView(
    await buildMixedKeyset(2, [
      { key: SECRET },
      { key: { ...offCurve, kid: referencePublicKid(offCurve) }, status: 'standby' },
    ]),
  );
  // y = 2 little-endian: (y^2 - 1) / (d y^2 + 1) is no square mod 2^255 - 19 (shared/key-ring.test.ts searches it).
  const x = Buffer.concat([Buffer.from([2]), Buffer.alloc(31)]).toString('base64url');
  const notAPoint = { ...EDDSA_PAIR, x, kid: referencePublicKid({ x }) };
  const nonPointKeyset = edgeView(
    await buildMixedKeyset(2, [{ key: SECRET }, { key: notAPoint, status: 'standby' }]),
  );
  return [mixed, publicOnly, offCurveKeyset, nonPointKeyset];
}

function hmacToken(key: Uint8Array | string, header: Record<string, unknown>): string {
  const signingInput = `${b64json(header)}.${b64json(CLAIMS)}`;
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

function cases(): RuntimeCase[] {
  const list: RuntimeCase[] = [];
  const add = (keyset: number, token: string, algorithms = ALL) =>
    list.push({ keyset, token, now: NOW, algorithms });
  const kids = { HS256: referenceKid(SECRET), ES256: ES256_PAIR.kid, EdDSA: EDDSA_PAIR.kid } as Record<
    string,
    string
  >;
  for (const alg of HEADER_ALGS) {
    for (const target of ['HS256', 'ES256', 'EdDSA', undefined]) {
      const header = { alg, kid: target === undefined ? undefined : kids[target] };
      if (alg.startsWith('HS')) add(0, hmacToken(SECRET, header));
      add(0, signAsym(ES256_PAIR, header, CLAIMS));
      add(0, signAsym(EDDSA_PAIR, header, CLAIMS));
    }
  }
  for (const pair of [ES256_PAIR, EDDSA_PAIR]) {
    for (const secret of Object.values(publicKeyForms(pair))) {
      for (const keyset of [0, 1]) {
        add(keyset, hmacToken(secret, { alg: 'HS256', kid: pair.kid }));
        add(keyset, hmacToken(secret, { alg: 'HS256' }));
      }
    }
    const header = { alg: pair.alg, kid: pair.kid };
    add(0, signAsym(pair, header, CLAIMS));
    add(
      0,
      signAsym(pair, header, CLAIMS, (s) => s.subarray(0, 63)),
    );
    add(
      0,
      signAsym(pair, header, CLAIMS, (s) => Buffer.concat([s, Buffer.from([0])])),
    );
    add(0, signAsym(pair, { alg: pair.alg }, CLAIMS));
    add(1, signAsym(pair, { alg: pair.alg }, CLAIMS));
  }
  const esHeader = { alg: 'ES256', kid: ES256_PAIR.kid };
  for (let i = 0; i < 4; i++) {
    add(0, signAsym(ES256_PAIR, esHeader, { ...CLAIMS, jti: `${i}` }, highS));
    add(
      0,
      signAsym(
        EDDSA_PAIR,
        { alg: 'EdDSA', kid: EDDSA_PAIR.kid },
        { ...CLAIMS, jti: `${i}` },
        nonCanonicalEd25519S,
      ),
    );
  }
  const derInput = `${b64json(esHeader)}.${b64json(CLAIMS)}`;
  add(0, `${derInput}.${signatureOf(ES256_PAIR, derInput, true).toString('base64url')}`);
  // The off-curve key: its keyset does not prepare, the same in every runtime; left out, the rest prepares.
  add(2, signAsym(ES256_PAIR, { alg: 'ES256' }, CLAIMS));
  add(2, hmacToken(SECRET, { alg: 'HS256' }), ['HS256']);
  // The Ed25519 non-point: it prepares and verifies nothing.
  add(3, signAsym(EDDSA_PAIR, { alg: 'EdDSA' }, CLAIMS));
  add(3, `${b64json({ alg: 'EdDSA' })}.${b64json(CLAIMS)}.${Buffer.alloc(64).toString('base64url')}`);
  return list;
}

/** The verdicts under `runtime`: with its WebCrypto, or with the primitive its edge entry injects. */
function run(runtime: 'deno' | 'bun', primitive: 'webcrypto' | 'entry' = 'webcrypto'): string[] {
  const [command, ...prefix] = EDGE_ENTRY_COMMANDS[runtime] as string[];
  const entry =
    primitive === 'entry'
      ? 'test/support/entry-primitive-verdicts-entry.ts'
      : 'test/support/verdicts-entry.ts';
  // The same flags the edge's entry runs with, the entry file replaced by the verdicts entry.
  const args = [...prefix.slice(0, -1), entry, join(dir, 'cases.json')];
  const result = spawnSync(command as string, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as string[];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-runtimes-'));
  input = { keysets: await keysets(), cases: cases() };
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(input));
  nodeVerdicts = await verdictsOf(input);
  // Node's own check: node:crypto, WebCrypto and the reference verifier agree wherever the keyset prepares.
  for (const [index, item] of input.cases.entries()) {
    if ((nodeVerdicts[index] as string).startsWith('ring: ')) {
      await expect(confusionRings(input.keysets[item.keyset] as Keyset, item.algorithms)).rejects.toThrow(
        'does not import',
      );
      continue;
    }
    const answer = await verdict(
      item.token,
      await confusionRings(input.keysets[item.keyset] as Keyset, item.algorithms),
      {
        now: item.now,
        algorithms: item.algorithms,
      },
    );
    expect(answer.valid ? answer.kid : answer.error, item.token).toBe(nodeVerdicts[index]);
  }
  expect(nodeVerify.name).toBe('node:crypto');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('algorithm confusion under node, deno and bun', () => {
  it('node reaches every kind of verdict on the catalogue', () => {
    const kinds = new Set(
      nodeVerdicts.map((v) => (v.startsWith('ring: ') || !v.includes('_') ? v.slice(0, 6) : v)),
    );
    for (const kind of ['algorithm_not_allowed', 'token_malformed', 'signature_invalid', 'ring: ']) {
      expect(kinds.has(kind), `${kind} in ${[...kinds]}`).toBe(true);
    }
    expect(nodeVerdicts.filter((v) => v === ES256_PAIR.kid).length).toBeGreaterThan(4);
    expect(nodeVerdicts.filter((v) => v === EDDSA_PAIR.kid).length).toBeGreaterThan(2);
  });

  for (const [runtime, primitive] of [
    ['deno', 'webcrypto'],
    ['bun', 'webcrypto'],
    ['deno', 'entry'],
    ['bun', 'entry'],
  ] as const) {
    const title =
      primitive === 'webcrypto'
        ? `${runtime} answers every token exactly as node does`
        : `${runtime} with its edge entry's primitive (${runtime === 'deno' ? 'the HMAC in JavaScript for HS256' : 'node:crypto'}) answers every token exactly as node does`;
    it(title, () => {
      const verdicts = run(runtime, primitive);
      expect(verdicts).toHaveLength(nodeVerdicts.length);
      const differences = input.cases.flatMap((item, index) =>
        verdicts[index] === nodeVerdicts[index]
          ? []
          : [
              {
                token: item.token,
                keyset: item.keyset,
                node: nodeVerdicts[index],
                [runtime]: verdicts[index],
              },
            ],
      );
      expect(differences).toEqual([]);
    });
  }
});
