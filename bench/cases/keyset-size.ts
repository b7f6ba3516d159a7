/**
 * How the keyset and its envelope grow per key: bytes of the keyset JSON an edge holds (public members only)
 * and of the sealed envelope, for 1..N keys of one algorithm, and for one HS256 key beside 0..N-1 EdDSA keys.
 * A keyset of public keys only seals to the bare signed JWS; one with any HS256 key to the JWE (SPEC section
 * 9). Sizes do not depend on the machine: every figure is exact for the key counts measured.
 */
import { generateKeyPair } from '../../shared/generate-key-pair.ts';
import { publicKeyset } from '../../shared/keyset.ts';
import { MAX_ENVELOPE_BYTES, sealKeyset } from '../../shared/keyset-envelope.ts';
import { buildMixedKeyset, type MixedKeySpec } from '../../test/support/key-pairs.ts';
import { sealingKeys } from '../../test/support/keysets.ts';
import { newSecret } from '../../test/support/sign-token.ts';

export type KeysetSeries = 'HS256' | 'EdDSA' | 'ES256' | 'HS256+EdDSA';
export const KEYSET_SERIES: readonly KeysetSeries[] = ['HS256', 'EdDSA', 'ES256', 'HS256+EdDSA'];

export interface KeysetSizePoint {
  keys: number;
  keysetJsonBytes: number;
  envelopeBytes: number;
  /** 'jws' (3 segments, signed only) or 'jwe' (5 segments, signed then encrypted). */
  envelope: 'jws' | 'jwe';
}

export interface KeysetSizeSeries {
  series: KeysetSeries;
  points: KeysetSizePoint[];
  /** Bytes each further key adds, from the first point to the last. */
  perKey: { keysetJsonBytes: number; envelopeBytes: number };
  /** Keys that fit under the edges' envelope limit at that rate (whole keys). */
  keysUnderLimit: number;
}

export interface KeysetSize {
  limitBytes: number;
  series: KeysetSizeSeries[];
}

async function specsOf(series: KeysetSeries, n: number): Promise<MixedKeySpec[]> {
  const specs: MixedKeySpec[] = [];
  for (let i = 0; i < n; i++) {
    if (series === 'HS256' || (series === 'HS256+EdDSA' && i === 0)) specs.push({ key: newSecret() });
    else specs.push({ key: await generateKeyPair(series === 'ES256' ? 'ES256' : 'EdDSA') });
  }
  return specs;
}

/** Sizes for 1..maxKeys keys of each series (keys generated fresh, the first active, the others previous). */
export async function measureKeysetSize(maxKeys: number): Promise<KeysetSize> {
  const keys = await sealingKeys();
  const series: KeysetSizeSeries[] = [];
  for (const name of KEYSET_SERIES) {
    const all = await specsOf(name, maxKeys);
    const points: KeysetSizePoint[] = [];
    for (let n = 1; n <= maxKeys; n++) {
      const keyset = await buildMixedKeyset(n, all.slice(0, n));
      const envelope = await sealKeyset(keyset, keys);
      points.push({
        keys: n,
        keysetJsonBytes: Buffer.byteLength(JSON.stringify(publicKeyset(keyset))),
        envelopeBytes: envelope.length,
        envelope: envelope.split('.').length === 5 ? 'jwe' : 'jws',
      });
    }
    const first = points[0] as KeysetSizePoint;
    const last = points.at(-1) as KeysetSizePoint;
    const steps = Math.max(1, last.keys - first.keys);
    const perKey = {
      keysetJsonBytes: (last.keysetJsonBytes - first.keysetJsonBytes) / steps,
      envelopeBytes: (last.envelopeBytes - first.envelopeBytes) / steps,
    };
    series.push({
      series: name,
      points,
      perKey,
      keysUnderLimit:
        first.keys + Math.floor((MAX_ENVELOPE_BYTES - first.envelopeBytes) / perKey.envelopeBytes),
    });
  }
  return { limitBytes: MAX_ENVELOPE_BYTES, series };
}
