/**
 * What revocation costs an edge (SPEC section 8, RevokeTokens): one in-process verify on Node through the edge's
 * TokenVerifier (node:crypto, HS256) holding 0, 1,000 and 100,000 live revocations, against the verify core with
 * no revocation check at all, in the same interleaved rounds; with the verified-token cache off and on (every
 * call a hit, the edge's default). The token verified is valid and not revoked, with a `jti` and a `sub`: the
 * common case, which pays both lookups; and the set's lookup alone (`isRevoked-<count>`). Also: the heap 100,000 revoked jtis (UUIDs) hold once taken, the size of
 * that snapshot and the time an edge takes to open and apply it, and the bytes of a one-jti delta.
 */
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { KeysetStore } from '../../edge/src/keyset/keyset-store.ts';
import { KeysetSync } from '../../edge/src/keyset/keyset-sync.ts';
import { TokenVerifier } from '../../edge/src/token-verifier.ts';
import { openingKeys } from '../../shared/keyset-envelope.ts';
import { importSigner, importVerifier } from '../../shared/keyset-signing-key.ts';
import {
  openRevocationList,
  type RevocationBatch,
  type RevocationList,
  RevocationSet,
  signRevocationList,
} from '../../shared/revocations.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import { verifyToken } from '../../shared/verify-token.ts';
import { type Summary, summarize } from '../../test/support/stats.ts';
import type { BenchFixture } from '../support/fixture.ts';
import {
  type CaseTiming,
  ratiosOf,
  type TimedCase,
  type TimingOptions,
  timeCases,
} from '../support/interleaved-timing.ts';
import { VERIFY_OPTIONS } from './in-process-verify.ts';

/** Live revocations held, per case; one in a hundred is a subject, the rest jtis. */
export const REVOCATION_COUNTS = [0, 1_000, 100_000] as const;
const MEMORY_JTIS = 100_000;
const DAY_MS = 86_400_000;

export interface RevocationVerify {
  timing: TimingOptions;
  cases: CaseTiming[];
  /** Per-round ratios, `subject / baseline`, keyed by that text. */
  ratios: Record<string, Summary>;
  /** Heap held by a RevocationSet of MEMORY_JTIS UUID jtis, after a full GC, and per jti. */
  memory: { jtis: number; heapBytes: number; bytesPerJti: number };
  /** The signed snapshot of those jtis, and opening and applying it (median of `samples`). */
  snapshot: { bytes: number; openAndApplyMs: Summary };
  /** A delta of one RevokeTokens call revoking one UUID jti, as a push carries it. */
  oneJtiDeltaBytes: number;
}

export async function measureRevocationVerify(
  fixture: BenchFixture,
  timing: TimingOptions,
  snapshotSamples = 5,
): Promise<RevocationVerify> {
  const now = Date.now();
  const signer = await importSigner(crypto.getRandomValues(new Uint8Array(32)));
  const verifiers = [await importVerifier(signer.publicKey)];

  const token = fixture.tokens.withKid;
  const claims = fixture.claims;
  const verifiersByCount = new Map<string, TokenVerifier>();
  const store = new KeysetStore({
    primitive: nodeVerify,
    algorithms: VERIFY_OPTIONS.algorithms,
    now: Date.now,
  });
  await store.accept(fixture.keyset);
  // No sources: never pulls (the token's kid is held anyway).
  const sync = new KeysetSync({
    store,
    keys: openingKeys([], []),
    keysetTtlMs: DAY_MS,
    now: Date.now,
    origins: [],
    log: () => {},
  });
  const sets = new Map<number, RevocationSet>();
  for (const count of REVOCATION_COUNTS) {
    const set = new RevocationSet();
    sets.set(count, set);
    set.apply(snapshot(count, now), now);
    if (set.size !== count) throw new Error(`revocation set of ${count} holds ${set.size}`);
    if (set.isRevoked(claims, now)) throw new Error('the bench token must not be revoked');
    verifiersByCount.set(`${count}`, new TokenVerifier(store, sync, VERIFY_OPTIONS, 0, set));
    verifiersByCount.set(`${count}/cached`, new TokenVerifier(store, sync, VERIFY_OPTIONS, 10_000, set));
  }
  const ring = store.ring;
  if (ring === undefined) throw new Error('the bench keyset was not taken');

  const valid = (result: unknown) => (result as { valid?: boolean }).valid === true;
  const cases: TimedCase[] = [
    { name: 'verify-core', async: false, run: () => verifyToken(token, ring, VERIFY_OPTIONS), check: valid },
    ...[...verifiersByCount].map(([label, verifier]) => ({
      name: `revocations-${label}`,
      async: false,
      run: () => verifier.verify(token),
      check: valid,
    })),
    // The lookup alone, as the verifier makes it after a valid verdict.
    ...[...sets].map(([count, set]) => ({
      name: `isRevoked-${count}`,
      async: false,
      run: () => !set.isRevoked(claims, now),
      check: (result: unknown) => result === true,
    })),
  ];
  const timed = await timeCases(cases, timing);
  // What the edge's verifier adds with none held, then what holding them adds, uncached and cached.
  const pairs = [
    ['revocations-0', 'verify-core'] as const,
    ...REVOCATION_COUNTS.filter((count) => count > 0).flatMap((count) => [
      [`revocations-${count}`, 'revocations-0'] as const,
      [`revocations-${count}/cached`, 'revocations-0/cached'] as const,
    ]),
  ];
  return {
    timing,
    cases: timed,
    ratios: ratiosOf(timed, pairs),
    memory: heapOfJtis(MEMORY_JTIS, now),
    snapshot: await snapshotCost(MEMORY_JTIS, now, signer, verifiers, snapshotSamples),
    oneJtiDeltaBytes: (
      await signRevocationList(
        {
          serial: 2,
          from: 1,
          issued_at: new Date(now).toISOString(),
          batches: [batch(2, now, [randomUUID()], [])],
        },
        signer,
      )
    ).length,
  };
}

function batch(serial: number, at: number, jti: string[], sub: string[]): RevocationBatch {
  return { serial, at, expires: at + DAY_MS, jti, sub };
}

/** A snapshot of `count` live revocations in calls of at most 10,000: a subject in every hundred, jtis else. */
function snapshot(count: number, now: number): RevocationList {
  const batches: RevocationBatch[] = [];
  for (let start = 0; start < count; start += 10_000) {
    const size = Math.min(10_000, count - start);
    const subjects = Math.floor(size / 100);
    const jti = Array.from({ length: size - subjects }, () => randomUUID());
    const sub = Array.from({ length: subjects }, (_, index) => `user_${start + index}`);
    batches.push(batch(batches.length + 1, now - 1000, jti, sub));
  }
  return { serial: batches.length, from: 0, issued_at: new Date(now).toISOString(), batches };
}

/** A full GC, through V8's own `gc` (the bench runs without --expose-gc). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

/**
 * The heap a RevocationSet of `count` jtis holds once everything that brought them (the document's JSON, the
 * parsed list) is garbage: built inside a function, measured after full GCs on either side.
 */
function heapOfJtis(count: number, now: number): RevocationVerify['memory'] {
  const build = () => {
    const json = JSON.stringify({ jti: Array.from({ length: count }, () => randomUUID()) });
    const { jti } = JSON.parse(json) as { jti: string[] };
    const set = new RevocationSet();
    set.apply(
      { serial: 1, from: 0, issued_at: new Date(now).toISOString(), batches: [batch(1, now, jti, [])] },
      now,
    );
    return set;
  };
  collect();
  const before = process.memoryUsage().heapUsed;
  const set = build();
  collect();
  const heapBytes = process.memoryUsage().heapUsed - before;
  if (set.size !== count) throw new Error(`revocation set of ${count} holds ${set.size}`);
  return { jtis: count, heapBytes, bytesPerJti: heapBytes / count };
}

async function snapshotCost(
  count: number,
  now: number,
  signer: Awaited<ReturnType<typeof importSigner>>,
  verifiers: Awaited<ReturnType<typeof importVerifier>>[],
  samples: number,
): Promise<RevocationVerify['snapshot']> {
  const list = snapshot(count, now);
  list.batches = list.batches.map((b) => ({
    ...b,
    jti: [...b.jti, ...b.sub.map(() => randomUUID())],
    sub: [],
  }));
  const jws = await signRevocationList(list, signer);
  const durations: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const set = new RevocationSet();
    set.apply(await openRevocationList(jws, verifiers), now);
    durations.push(performance.now() - started);
    if (set.size !== count) throw new Error(`snapshot of ${count} applied as ${set.size}`);
  }
  return { bytes: jws.length, openAndApplyMs: summarize(durations) };
}
