/**
 * The control plane the bad-input suites attack (test/support/grpc-target.ts over a real valkey-server), with
 * what they share: every call's status message noted, every secret and token tried recorded in a ledger, a
 * snapshot of everything a bad input must leave alone, and the check that nothing recorded got out.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type {
  GetKeysetResponse,
  RotateSecretRequest__Input,
  RotateSecretResponse,
} from '../../control-plane/src/grpc/proto.ts';
import type { UnaryCallOptions } from '../../control-plane/src/grpc/secret-service-client.ts';
import { VALKEY_KEYS } from '../../control-plane/src/storage/valkey-storage.ts';
import { utf8 } from '../../shared/base64url.ts';
import { type Outcome, settle } from './grpc-outcome.ts';
import { type GrpcTarget, startGrpcTarget } from './grpc-target.ts';
import { type SecretServiceMethod, type SecretServiceResponse, sendRaw } from './hand-encoded-requests.ts';
import { SecrecyLedger } from './secrecy-ledger.ts';

export const DEADLINE_MS = 20_000;

/** Stands for state that holds secrets, so that a failed comparison prints a digest, not the secrets. */
export const fingerprint = (value: unknown) =>
  createHash('sha256').update(JSON.stringify(value)).digest('hex');

/** Everything a bad input must leave alone; Valkey's contents as digests, so that a diff shows no secret. */
export interface AbuseSnapshot {
  keyset: GetKeysetResponse;
  stored: string;
  history: { count: number; digest: string };
}

export interface AbuseTarget extends GrpcTarget {
  adminToken: string;
  ledger: SecrecyLedger;
  /** Every status message a call through `call`, `rotate` or `raw` received. */
  statusDetails: string[];
  /** A fresh secret, `<prefix>-<random base64>`, recorded in the ledger. */
  newSecret(prefix?: string): string;
  /** Settles `request`, noting its status message. */
  call<T>(request: Promise<T>): Promise<Outcome<T>>;
  /** RotateSecret with the admin token and an empty new_secret unless `request` says otherwise. */
  rotate(
    request: RotateSecretRequest__Input,
    options?: UnaryCallOptions,
  ): Promise<Outcome<RotateSecretResponse>>;
  /** `method` called with exactly `bytes` as the request message. */
  rawCall<Method extends SecretServiceMethod>(
    method: Method,
    bytes: Uint8Array,
    metadata?: Metadata,
  ): Promise<Outcome<SecretServiceResponse<Method>>>;
  keysetNow(): Promise<GetKeysetResponse>;
  /** Everything a bad input must leave alone. Asking with the right token also resets the failure brake. */
  snapshot(): Promise<AbuseSnapshot>;
  /** Neither the log, nor a status message, nor /metrics holds anything in the ledger. */
  expectNothingLeaked(): Promise<void>;
}

export async function startAbuseTarget(): Promise<AbuseTarget> {
  const adminToken = randomBytes(48).toString('base64url');
  const ledger = new SecrecyLedger(adminToken);
  const newSecret = (prefix = 'abuse') => ledger.newSecret(prefix);
  const target = await startGrpcTarget({
    adminToken,
    keysetKey: randomBytes(32).toString('base64url'),
    initialSecret: newSecret('initial'),
  });
  const statusDetails: string[] = [];
  const call = async <T>(request: Promise<T>) => {
    const outcome = await settle(request);
    if (outcome.error) statusDetails.push(outcome.error.details);
    return outcome;
  };
  const keysetNow = () => target.client.getKeyset({ admin_token: adminToken }, { deadlineMs: DEADLINE_MS });
  const { admin } = target;
  return {
    ...target,
    adminToken,
    ledger,
    statusDetails,
    newSecret,
    call,
    rotate: (request, options = {}) =>
      call(
        target.client.rotateSecret(
          { admin_token: adminToken, new_secret: '', ...request },
          { deadlineMs: DEADLINE_MS, ...options },
        ),
      ),
    rawCall: (method, bytes, metadata) =>
      call(sendRaw(target.raw, method, bytes, { metadata, deadlineMs: DEADLINE_MS })),
    keysetNow,
    snapshot: async () => ({
      keyset: await keysetNow(),
      stored: fingerprint(
        await admin.mget(VALKEY_KEYS.active, VALKEY_KEYS.keyset, VALKEY_KEYS.state, VALKEY_KEYS.version),
      ),
      history: await admin.hgetall(VALKEY_KEYS.history).then((history) => ({
        count: Object.keys(history).length,
        digest: fingerprint(history),
      })),
    }),
    async expectNothingLeaked() {
      const metrics = await (await fetch(`${target.http}/metrics`)).text();
      ledger.expectNoneIn('the log', target.harness.logLines.join('\n'));
      ledger.expectNoneIn('a status message', statusDetails.join('\n'));
      ledger.expectNoneIn('/metrics', metrics);
    },
  };
}

/**
 * For a describe block: starts an AbuseTarget before its tests, checks for leaks after each test, stops the
 * target after all. Returns the target's getter.
 */
export function abuseTargetForSuite(): () => AbuseTarget {
  let target: AbuseTarget | undefined;
  beforeAll(async () => {
    target = await startAbuseTarget();
  });
  afterEach(async () => {
    await target?.expectNothingLeaked();
  });
  afterAll(async () => {
    await target?.stop();
  });
  return () => {
    if (!target) throw new Error('the abuse target did not start');
    return target;
  };
}

/** A secret that is long enough and whose bytes are not UTF-8: `bad` spliced into ASCII. */
export function notUtf8(target: Pick<AbuseTarget, 'newSecret'>, bad: number[]): number[] {
  const text = target.newSecret('not-utf8');
  return [...utf8(text.slice(0, 20)), ...bad, ...utf8(text.slice(20))];
}
