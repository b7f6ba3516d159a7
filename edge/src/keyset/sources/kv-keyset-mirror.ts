/**
 * The optional Workers KV copy of the last taken envelope (binding `KEYSETS`, key `keyset`), so that isolates
 * which missed a push catch up without asking the origin. KV is eventually consistent (see edge/README.md).
 */
import { type OpeningKeys, openKeyset } from '../../../../shared/keyset-envelope.ts';
import type { KeysetKv } from '../../env.ts';
import type { KeysetSource } from './keyset-source.ts';

export const KV_KEYSET_KEY = 'keyset';

export class KvKeysetMirror implements KeysetSource {
  readonly name = 'KEYSETS';
  readonly #kv: KeysetKv;
  readonly #keys: OpeningKeys;

  constructor(kv: KeysetKv, keys: OpeningKeys) {
    this.#kv = kv;
    this.#keys = keys;
  }

  async pull(): Promise<string | undefined> {
    return (await this.#kv.get(KV_KEYSET_KEY, 'text')) ?? undefined;
  }

  /** Writes `envelope` unless KV already holds this version or a newer one (never rolls KV back). */
  async publish(envelope: string, version: number): Promise<boolean> {
    const current = await this.pull();
    if (current !== undefined) {
      const stored = await openKeyset(current, this.#keys).catch(() => undefined);
      if (stored !== undefined && stored.version >= version) return false;
    }
    await this.#kv.put(KV_KEYSET_KEY, envelope);
    return true;
  }
}
