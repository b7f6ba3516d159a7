/**
 * The keyset chain (`jwt_secrets:chain` in Valkey): per keyset version written, its keysetHash and the
 * `previous_hash` it carries. Past keysets are not kept (they hold secrets), so the chain an audit can check is
 * these links: each version names the hash of the one written before it, and the newest is the stored keyset.
 */
import type { Keyset } from '../../../shared/keyset.ts';
import { keysetHash } from '../../../shared/keyset-hash.ts';
import { nodeEnvelopeCrypto } from '../../../shared/runtime/node-envelope.ts';

export interface ChainLink {
  version: number;
  hash: string;
  /** Absent for the first keyset ever written. */
  previous_hash?: string;
}

/** The link a keyset adds to the chain. */
export async function chainLink(keyset: Keyset): Promise<ChainLink> {
  return {
    version: keyset.version,
    hash: await keysetHash(keyset, nodeEnvelopeCrypto.sha256),
    previous_hash: keyset.previous_hash,
  };
}
