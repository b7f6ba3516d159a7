/**
 * A keyset's content hash: base64url SHA-256 of its canonical JSON (object members sorted by name, absent
 * members left out). It names a keyset whatever envelope carries it: re-sealing makes new envelope bytes (a fresh
 * IV) for the same keyset, so envelope bytes cannot tell "the same keyset again" from "another keyset under the
 * same version". The control plane chains versions with it (`previous_hash`) and edges compare with it.
 */
import { encodeBase64url, utf8 } from './base64url.ts';
import { type Keyset, publicKeyset } from './keyset.ts';

/**
 * base64url SHA-256 of the keyset's canonical JSON, as edges hold it: private members of key pairs are left
 * out, so the control plane's copy and an edge's copy of one keyset have one hash, and anyone holding the
 * published keysets can check the chain. `sha256`: a synchronous SHA-256 to use instead of WebCrypto's (the same
 * digest).
 */
export async function keysetHash(keyset: Keyset, sha256?: (data: Uint8Array) => Uint8Array): Promise<string> {
  const text = utf8(canonicalJson(publicKeyset(keyset)));
  // The runtime's synchronous SHA-256 (node:crypto) when given: no thread-pool hop, as WebCrypto's digest pays.
  if (sha256 !== undefined) return encodeBase64url(sha256(text));
  const digest = await crypto.subtle.digest('SHA-256', text as Uint8Array<ArrayBuffer>);
  return encodeBase64url(new Uint8Array(digest));
}

/** JSON with every object's members sorted by name, so that equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, member]) => `${JSON.stringify(name)}:${canonicalJson(member)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}
