import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../test/support/keyward-error-code.ts';
import { KeywardError } from './errors.ts';
import { type Keyset, rotateKeyset } from './keyset.ts';
import { openingKeys, openKeyset } from './keyset-envelope.ts';
import { importSigner, importVerifier } from './keyset-signing-key.ts';
import { computeKid } from './kid.ts';
import {
  checkRevocationRequest,
  MAX_JTI_LENGTH,
  MAX_JTIS_PER_CALL,
  MAX_REVOCATIONS_BYTES,
  MAX_SUBJECT_LENGTH,
  openRevocationList,
  parseRevocationList,
  REVOCATIONS_TYPE,
  type RevocationBatch,
  type RevocationList,
  RevocationSet,
  revocationListJson,
  revocationsSince,
  signRevocationList,
} from './revocations.ts';
import { nodeEnvelopeCrypto } from './runtime/node-envelope.ts';
import { MANIFEST_TYPE, signManifest } from './signed-manifest.ts';

const SIGNER = await importSigner(new Uint8Array(randomBytes(32)));
const FOREIGN = await importSigner(new Uint8Array(randomBytes(32)));
const VERIFIERS = [await importVerifier(SIGNER.publicKey)];

const T0 = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;

function codeOfSync(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KeywardError);
    return (error as KeywardError).code;
  }
  throw new Error('expected a throw');
}

function batch(serial: number, parts: Partial<RevocationBatch> = {}): RevocationBatch {
  return { serial, at: T0, expires: T0 + 24 * HOUR, jti: [], sub: [], ...parts };
}

function list(serial: number, from: number, batches: RevocationBatch[]): RevocationList {
  return { serial, from, issued_at: new Date(T0).toISOString(), batches };
}

/** The list JSON with `change` made to it, parsed: for the attacks on parseRevocationList. */
function parseChanged(change: (value: Record<string, unknown>) => void): string {
  const value = JSON.parse(revocationListJson(list(2, 0, [batch(1, { jti: ['a'] }), batch(2)])));
  change(value);
  return codeOfSync(() => parseRevocationList(value));
}

describe('checkRevocationRequest', () => {
  it('refuses an empty call', () => {
    expect(codeOfSync(() => checkRevocationRequest([], ''))).toBe('revocation_invalid');
  });

  it('takes jtis of 1 to 256 characters, counted in code points (astral ones too)', () => {
    const astral = '\u{1F600}';
    expect(checkRevocationRequest(['x'.repeat(MAX_JTI_LENGTH)], '').jtis).toHaveLength(1);
    expect(checkRevocationRequest([astral.repeat(MAX_JTI_LENGTH)], '').jtis).toHaveLength(1);
    expect(() => checkRevocationRequest(['x'.repeat(MAX_JTI_LENGTH + 1)], '')).toThrow(/jtis\[0\].*257/);
    expect(() => checkRevocationRequest(['ok', astral.repeat(MAX_JTI_LENGTH + 1)], '')).toThrow(
      /jtis\[1\].*257/,
    );
    expect(codeOfSync(() => checkRevocationRequest([''], ''))).toBe('revocation_invalid');
  });

  it('takes at most 10,000 jtis in one call', () => {
    const jtis = Array.from({ length: MAX_JTIS_PER_CALL + 1 }, (_, index) => `jti-${index}`);
    expect(checkRevocationRequest(jtis.slice(1), '').jtis).toHaveLength(MAX_JTIS_PER_CALL);
    expect(() => checkRevocationRequest(jtis, '')).toThrow(/at most 10000 jtis.*10001/);
  });

  it('refuses a subject with a control character', () => {
    for (const bad of ['a\u0000b', 'a\u007fb', 'a\u0085b', 'line\nbreak', '\tuser']) {
      expect(
        codeOfSync(() => checkRevocationRequest([], bad)),
        JSON.stringify(bad),
      ).toBe('revocation_invalid');
    }
    expect(checkRevocationRequest([], 'user-42 \u00e9\u{1F600}')).toEqual({
      jtis: [],
      subject: 'user-42 \u00e9\u{1F600}',
    });
  });

  it('drops duplicate jtis, keeping the first order', () => {
    expect(checkRevocationRequest(['b', 'a', 'b', 'a', 'c'], 'u')).toEqual({
      jtis: ['b', 'a', 'c'],
      subject: 'u',
    });
  });
});

describe('parseRevocationList', () => {
  it('takes a well-formed list as it is', () => {
    const good = list(3, 1, [batch(2, { jti: ['a'] }), batch(3, { sub: ['u'] })]);
    expect(parseRevocationList(JSON.parse(revocationListJson(good)))).toEqual(good);
  });

  it('refuses batches out of order, repeated, at or below from, or above serial', () => {
    expect(
      parseChanged((v) => {
        (v.batches as unknown[]).reverse();
      }),
    ).toBe('revocations_invalid');
    expect(
      parseChanged((v) => {
        (v.batches as RevocationBatch[])[1] = batch(1);
      }),
    ).toBe('revocations_invalid');
    expect(
      parseChanged((v) => {
        v.from = 1;
      }),
    ).toBe('revocations_invalid');
    expect(
      parseChanged((v) => {
        v.serial = 1;
      }),
    ).toBe('revocations_invalid');
    expect(() => parseRevocationList(JSON.parse(revocationListJson(list(5, 3, [batch(3)]))))).toThrow(
      /batches\.0\.serial/,
    );
  });

  it('refuses from above serial', () => {
    expect(codeOfSync(() => parseRevocationList(list(2, 3, [])))).toBe('revocations_invalid');
  });

  it('refuses numbers that are not safe non-negative integers', () => {
    for (const bad of [2 ** 53, Number.POSITIVE_INFINITY, -1, 1.5, '2', null]) {
      expect(
        parseChanged((v) => {
          v.serial = bad;
        }),
        String(bad),
      ).toBe('revocations_invalid');
      expect(
        parseChanged((v) => {
          (v.batches as Record<string, unknown>[])[0] = { ...batch(1), at: bad };
        }),
        String(bad),
      ).toBe('revocations_invalid');
    }
    // JSON's own huge number, as it arrives in a document.
    expect(
      codeOfSync(() =>
        parseRevocationList(JSON.parse('{"serial":1e400,"from":0,"issued_at":"x","batches":[]}')),
      ),
    ).toBe('revocations_invalid');
  });

  it('refuses jti and sub lists that are not arrays of non-empty strings of bounded length', () => {
    const bads: unknown[] = ['a', [1], [null], [''], { 0: 'a' }];
    for (const [field, longest] of [
      ['jti', MAX_JTI_LENGTH],
      ['sub', MAX_SUBJECT_LENGTH],
    ] as const) {
      for (const bad of [...bads, ['x'.repeat(2 * longest + 1)]]) {
        expect(
          parseChanged((v) => {
            (v.batches as Record<string, unknown>[])[0] = { ...batch(1), [field]: bad };
          }),
        ).toBe('revocations_invalid');
      }
      // At most two UTF-16 units per character: the longest in astral characters passes.
      const astral = { ...batch(1), [field]: ['\u{1F600}'.repeat(longest)] };
      expect(parseRevocationList({ ...list(1, 0, []), batches: [astral] }).batches).toHaveLength(1);
    }
  });

  it('refuses a batch that expires at or before it was made, and a bad issued_at or shape', () => {
    for (const expires of [T0, T0 - 1]) {
      expect(
        parseChanged((v) => {
          (v.batches as Record<string, unknown>[])[0] = { ...batch(1), expires };
        }),
      ).toBe('revocations_invalid');
    }
    expect(
      parseChanged((v) => {
        v.issued_at = 'yesterday';
      }),
    ).toBe('revocations_invalid');
    expect(
      parseChanged((v) => {
        v.batches = {};
      }),
    ).toBe('revocations_invalid');
    for (const bad of [null, [], 'list', 7]) {
      expect(codeOfSync(() => parseRevocationList(bad))).toBe('revocations_invalid');
    }
  });
});

describe('signed revocation lists', () => {
  const sample = list(2, 0, [batch(1, { jti: ['j-1', '\u{1F600}'] }), batch(2, { sub: ['user-7'] })]);

  it('round-trip through sign and open', async () => {
    const jws = await signRevocationList(sample, SIGNER);
    expect(JSON.parse(atob(jws.split('.')[0] as string))).toEqual({
      alg: 'EdDSA',
      typ: REVOCATIONS_TYPE,
      kid: SIGNER.kid,
    });
    expect(await openRevocationList(jws, VERIFIERS)).toEqual(sample);
  });

  it('refuses a list signed by another key, or changed after signing', async () => {
    expect(await codeOf(openRevocationList(await signRevocationList(sample, FOREIGN), VERIFIERS))).toBe(
      'envelope_signature_invalid',
    );
    const [header, , signature] = (await signRevocationList(sample, SIGNER)).split('.');
    const other = (await signRevocationList(list(9, 0, []), SIGNER)).split('.')[1];
    expect(await codeOf(openRevocationList(`${header}.${other}.${signature}`, VERIFIERS))).toBe(
      'envelope_signature_invalid',
    );
  });

  it("opens with the runtime's synchronous Ed25519 check when given one, with the same verdicts as WebCrypto", async () => {
    const keys = openingKeys([], [SIGNER.publicKey], nodeEnvelopeCrypto);
    const verifiers = await keys.verifiers;
    let calls = 0;
    const counted = {
      verifyEd25519: (...args: Parameters<typeof nodeEnvelopeCrypto.verifyEd25519>) => {
        calls++;
        return nodeEnvelopeCrypto.verifyEd25519(...args);
      },
    };
    const jws = await signRevocationList(sample, SIGNER);
    expect(await openRevocationList(jws, verifiers, counted)).toEqual(sample);
    expect(calls).toBe(1);
    const [header, , signature] = jws.split('.');
    const other = (await signRevocationList(list(9, 0, []), SIGNER)).split('.')[1];
    const changed = `${header}.${other}.${signature}`;
    expect(await codeOf(openRevocationList(changed, verifiers, counted))).toBe('envelope_signature_invalid');
    expect(await codeOf(openRevocationList(changed, verifiers))).toBe('envelope_signature_invalid');
    expect(calls).toBe(2);
  });

  it('refuses a keyset manifest as a revocation list, and a revocation list as a keyset manifest', async () => {
    const secret = 'revocation-test-keyset-secret-0123456789abcdef';
    const keyset: Keyset = rotateKeyset(
      null,
      { secret, kid: await computeKid(secret) },
      { now: new Date(T0), gracePeriodMs: 1000 },
    );
    const manifest = await signManifest(JSON.stringify(keyset), SIGNER, MANIFEST_TYPE);
    expect(await codeOf(openRevocationList(manifest, VERIFIERS))).toBe('envelope_signature_invalid');
    const revocations = await signRevocationList(sample, SIGNER);
    expect(await codeOf(openKeyset(revocations, openingKeys([], [SIGNER.publicKey])))).toBe(
      'envelope_signature_invalid',
    );
  });

  it('refuses what is not a compact JWS, a payload that is not a list, and more than the limit', async () => {
    expect(await codeOf(openRevocationList('not-a-jws', VERIFIERS))).toBe('envelope_malformed');
    expect(await codeOf(openRevocationList('a.b.c.d.e', VERIFIERS))).toBe('envelope_malformed');
    const notJson = await signManifest('{"serial":', SIGNER, REVOCATIONS_TYPE);
    expect(await codeOf(openRevocationList(notJson, VERIFIERS))).toBe('revocations_invalid');
    const notList = await signManifest('{"serial":1}', SIGNER, REVOCATIONS_TYPE);
    expect(await codeOf(openRevocationList(notList, VERIFIERS))).toBe('revocations_invalid');
    expect(await codeOf(openRevocationList('a'.repeat(MAX_REVOCATIONS_BYTES + 1), VERIFIERS))).toBe(
      'revocations_too_large',
    );
  });
});

describe('revocationsSince', () => {
  it('keeps the live batches above from', () => {
    const full = list(3, 0, [
      batch(1, { jti: ['old'] }),
      batch(2, { jti: ['gone'], expires: T0 + HOUR }),
      batch(3, { jti: ['new'] }),
    ]);
    const delta = revocationsSince(full, 1, T0 + HOUR);
    expect(delta).toMatchObject({ serial: 3, from: 1 });
    expect(delta.batches.map((b) => b.serial)).toEqual([3]);
    expect(revocationsSince(full, 0, T0).batches).toHaveLength(3);
  });
});

describe('RevocationSet', () => {
  const claims = (jti: string, sub = 'nobody', iat?: number) =>
    iat === undefined ? { jti, sub } : { jti, sub, iat };

  it('revokes nothing while empty, and nothing of a serial-0 snapshot', () => {
    const set = new RevocationSet();
    expect(set.isRevoked(claims('a'), T0)).toBe(false);
    expect(set.apply(list(0, 0, []), T0)).toBe('held');
    expect(set.serial).toBe(0);
  });

  it('adds a snapshot to what it holds: a revocation leaves only by expiring', () => {
    const set = new RevocationSet();
    expect(set.apply(list(2, 0, [batch(1, { jti: ['a'] }), batch(2, { sub: ['u'] })]), T0)).toBe('taken');
    expect(set.isRevoked(claims('a'), T0)).toBe(true);
    expect(set.isRevoked(claims('x', 'u'), T0)).toBe(true);
    expect(set.apply(list(5, 0, [batch(5, { jti: ['b'] })]), T0)).toBe('taken');
    expect(set.serial).toBe(5);
    expect(set.size).toBe(3);
    for (const revoked of [claims('a'), claims('x', 'u'), claims('b')]) {
      expect(set.isRevoked(revoked, T0)).toBe(true);
    }
  });

  it('takes an older snapshot without dropping anything held, and follows its numbering', () => {
    const set = new RevocationSet();
    set.apply(list(4, 0, [batch(4, { jti: ['a'], sub: ['carol'] })]), T0);
    // A list restored from a backup (or replayed): its batches are added, what was held stays.
    expect(set.apply(list(3, 0, [batch(3, { jti: ['b'], sub: ['carol'] })]), T0)).toBe('taken');
    expect(set.serial).toBe(3);
    expect(set.isRevoked(claims('a'), T0)).toBe(true);
    expect(set.isRevoked(claims('b'), T0)).toBe(true);
    // The deltas the control plane numbers from its own serial apply after it.
    expect(set.apply(list(9, 3, [batch(9, { jti: ['c'] })]), T0)).toBe('taken');
    expect(set.isRevoked(claims('c'), T0)).toBe(true);
    // The same snapshot again is held; a subject revoked once counts once however often it arrives.
    expect(set.apply(list(9, 0, [batch(9, { jti: ['c'] })]), T0)).toBe('held');
    expect(set.size).toBe(4);
  });

  it('refuses a delta that starts above the held serial as behind, changing nothing', () => {
    const set = new RevocationSet();
    set.apply(list(1, 0, [batch(1, { jti: ['a'] })]), T0);
    expect(() => set.apply(list(3, 2, [batch(3, { jti: ['c'] })]), T0)).toThrow(
      expect.objectContaining({ code: 'revocations_behind', serial: 1 }),
    );
    expect(set.serial).toBe(1);
    expect(set.isRevoked(claims('c'), T0)).toBe(false);
  });

  it('adds the batches of a delta above the held serial only; one at or below it is already held', () => {
    const set = new RevocationSet();
    set.apply(list(2, 0, [batch(2, { jti: ['a'] })]), T0);
    // A delta from 1: batch 2 is held already (whatever this copy says), batch 3 is new.
    expect(set.apply(list(3, 1, [batch(2, { jti: ['not-held'] }), batch(3, { jti: ['c'] })]), T0)).toBe(
      'taken',
    );
    expect(set.serial).toBe(3);
    expect(set.isRevoked(claims('c'), T0)).toBe(true);
    expect(set.isRevoked(claims('not-held'), T0)).toBe(false);
    expect(set.apply(list(3, 2, [batch(3, { jti: ['d'] })]), T0)).toBe('held');
    expect(set.apply(list(2, 1, [batch(2, { jti: ['e'] })]), T0)).toBe('held');
    expect(set.isRevoked(claims('d'), T0)).toBe(false);
    expect(set.isRevoked(claims('e'), T0)).toBe(false);
  });

  it('drops what expires, at the moment it expires, and skips batches already expired', () => {
    const set = new RevocationSet();
    set.apply(
      list(3, 0, [
        batch(1, { jti: ['short'], sub: ['s'], expires: T0 + HOUR }),
        batch(2, { jti: ['long'], expires: T0 + 2 * HOUR }),
        batch(3, { jti: ['dead'], expires: T0 - 1, at: T0 - HOUR }),
      ]),
      T0,
    );
    expect(set.size).toBe(3);
    expect(set.isRevoked(claims('dead'), T0)).toBe(false);
    expect(set.isRevoked(claims('short'), T0 + HOUR - 1)).toBe(true);
    expect(set.isRevoked(claims('x', 's'), T0 + HOUR - 1)).toBe(true);
    expect(set.isRevoked(claims('short'), T0 + HOUR)).toBe(false);
    expect(set.isRevoked(claims('x', 's'), T0 + HOUR)).toBe(false);
    expect(set.size).toBe(1);
    expect(set.isRevoked(claims('long'), T0 + HOUR)).toBe(true);
    expect(set.isRevoked(claims('long'), T0 + 2 * HOUR)).toBe(false);
    expect(set.size).toBe(0);
    expect(set.serial).toBe(3);
  });

  it('revokes the tokens of a subject issued before the call, or without iat, not those issued after', () => {
    const at = T0 + 500; // half a second into a second
    const set = new RevocationSet();
    set.apply(list(1, 0, [batch(1, { sub: ['user-1'], at })]), T0);
    const second = Math.floor(at / 1000);
    expect(set.isRevoked({ sub: 'user-1', iat: second - 60 }, T0 + 1000)).toBe(true);
    expect(set.isRevoked({ sub: 'user-1' }, T0 + 1000)).toBe(true);
    expect(set.isRevoked({ sub: 'user-1', iat: 'early' }, T0 + 1000)).toBe(true);
    // Fractional iat, on either side of `at`.
    expect(set.isRevoked({ sub: 'user-1', iat: second + 0.4 }, T0 + 1000)).toBe(true);
    expect(set.isRevoked({ sub: 'user-1', iat: second + 0.6 }, T0 + 1000)).toBe(false);
    expect(set.isRevoked({ sub: 'user-1', iat: second + 60 }, T0 + 1000)).toBe(false);
    // Exactly at the call: not before it.
    expect(set.isRevoked({ sub: 'user-1', iat: at / 1000 }, T0 + 1000)).toBe(false);
    expect(set.isRevoked({ sub: 'user-2', iat: second - 60 }, T0 + 1000)).toBe(false);
    expect(set.isRevoked({ sub: 1, iat: second - 60 }, T0 + 1000)).toBe(false);
  });

  it('a subject revoked twice: the later call moves the cutoff, each lasting until its own expiry', () => {
    const set = new RevocationSet();
    set.apply(list(1, 0, [batch(1, { sub: ['u'], at: T0, expires: T0 + 2 * HOUR })]), T0);
    set.apply(list(2, 1, [batch(2, { sub: ['u'], at: T0 + HOUR, expires: T0 + 3 * HOUR })]), T0 + HOUR);
    const between = (T0 + HOUR / 2) / 1000;
    expect(set.isRevoked({ sub: 'u', iat: between }, T0 + HOUR)).toBe(true);
    expect(set.isRevoked({ sub: 'u', iat: between }, T0 + 2 * HOUR + 1)).toBe(true);
    expect(set.isRevoked({ sub: 'u', iat: (T0 + 2 * HOUR) / 1000 }, T0 + 2 * HOUR + 1)).toBe(false);
    expect(set.isRevoked({ sub: 'u', iat: between }, T0 + 3 * HOUR)).toBe(false);
  });

  it('a jti revoked twice stays revoked until the later of its expiries, in either order', () => {
    for (const [first, second] of [
      [T0 + HOUR, T0 + 2 * HOUR],
      [T0 + 2 * HOUR, T0 + HOUR],
    ] as const) {
      const set = new RevocationSet();
      set.apply(list(1, 0, [batch(1, { jti: ['j'], expires: first })]), T0);
      set.apply(list(2, 1, [batch(2, { jti: ['j'], expires: second })]), T0);
      expect(set.size).toBe(1);
      expect(set.isRevoked(claims('j'), T0 + HOUR + 1)).toBe(true);
      expect(set.isRevoked(claims('j'), T0 + 2 * HOUR)).toBe(false);
    }
  });

  it('matches jti and sub only as strings', () => {
    const set = new RevocationSet();
    set.apply(list(1, 0, [batch(1, { jti: ['1'], sub: ['2'] })]), T0);
    expect(set.isRevoked({ jti: 1 }, T0)).toBe(false);
    expect(set.isRevoked({ sub: 2 }, T0)).toBe(false);
    expect(set.isRevoked({ jti: '1' }, T0)).toBe(true);
  });
});
