/** Test revocation lists, signed as the control plane signs them. Web APIs only: workerd and node suites use it. */
import { importSigner, parseSigningSeed } from '../../shared/keyset-signing-key.ts';
import { type RevocationBatch, type RevocationList, signRevocationList } from '../../shared/revocations.ts';
import { KEYSET_SIGNING_KEY } from './keysets.ts';

const DAY_MS = 86_400_000;

/** One RevokeTokens call made at `at` (epoch ms), lasting a day. */
export function revocationBatch(
  serial: number,
  at: number,
  revoked: { jti?: string[]; sub?: string[]; expires?: number },
): RevocationBatch {
  return {
    serial,
    at,
    expires: revoked.expires ?? at + DAY_MS,
    jti: revoked.jti ?? [],
    sub: revoked.sub ?? [],
  };
}

/** A list of `batches` from `from` (0: a snapshot) up to the last batch's serial (or `serial`). */
export function revocationList(
  from: number,
  batches: RevocationBatch[],
  serial = batches.at(-1)?.serial ?? from,
): RevocationList {
  return { serial, from, issued_at: new Date(batches.at(-1)?.at ?? 0).toISOString(), batches };
}

/** Signs `list` with `signingKey` (default: the test control plane's KEYSET_SIGNING_KEY). */
export async function signRevocations(
  list: RevocationList,
  signingKey: string = KEYSET_SIGNING_KEY,
): Promise<string> {
  return signRevocationList(list, await importSigner(parseSigningSeed(signingKey)));
}
