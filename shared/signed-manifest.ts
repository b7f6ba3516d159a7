/**
 * The signed keyset manifest (SPEC section 9): JWS compact, protected header exactly
 * `{"alg":"EdDSA","typ":"keyward-keyset+jws","kid":...}`, the keyset JSON as payload. Parsed strictly: no other
 * header member (no `crit`, no `jku`), canonical base64url, a 64-byte signature.
 */
import { decodeBase64url, encodeBase64url, utf8 } from './base64url.ts';
import { KeywardError } from './errors.ts';
import { parseJoseSegment } from './jose-segment.ts';
import type { EnvelopeCrypto } from './keyset-envelope.ts';
import type { KeysetSigner, KeysetVerifier } from './keyset-signing-key.ts';

/** The manifest's `typ`, and the `cty` of a JWE that carries one. */
export const MANIFEST_TYPE = 'keyward-keyset+jws';

/**
 * Signs `payload` (the keyset JSON, or with `typ` another document the control plane vouches for, such as the
 * revocation list) as a compact JWS. `sign`: the runtime's synchronous Ed25519 signature with the signer's key,
 * instead of WebCrypto's (the same signature: Ed25519 is deterministic).
 */
export async function signManifest(
  payload: string,
  signer: KeysetSigner,
  typ: string = MANIFEST_TYPE,
  sign?: (data: Uint8Array) => Uint8Array,
): Promise<string> {
  const header = encodeBase64url(utf8(JSON.stringify({ alg: 'EdDSA', typ, kid: signer.kid })));
  const input = `${header}.${encodeBase64url(utf8(payload))}`;
  const signature =
    sign === undefined
      ? new Uint8Array(
          await crypto.subtle.sign({ name: 'Ed25519' }, signer.privateKey, utf8(input) as BufferSource),
        )
      : sign(utf8(input));
  return `${input}.${encodeBase64url(signature)}`;
}

/**
 * The payload of a manifest signed by one of `verifiers`: `envelope_malformed` when it is not a compact JWS,
 * `envelope_signature_invalid` when no held key signed exactly this header and payload, or its `typ` is not
 * `typ` (a document of one kind never passes for another).
 */
export async function verifyManifest(
  jws: string,
  verifiers: readonly KeysetVerifier[],
  crypto?: Pick<EnvelopeCrypto, 'verifyEd25519'>,
  typ: string = MANIFEST_TYPE,
): Promise<Uint8Array> {
  const parts = jws.split('.');
  if (parts.length !== 3)
    throw new KeywardError('envelope_malformed', 'expected a JWS in compact serialization');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const payload = decodeBase64url(payloadPart);
  const signature = decodeBase64url(signaturePart);
  const header = parseJoseSegment(headerPart);
  if (payload === undefined || signature === undefined || header === undefined) {
    throw new KeywardError('envelope_malformed', 'manifest segments are not base64url');
  }
  const members = Object.keys(header);
  if (
    members.length !== 3 ||
    header.alg !== 'EdDSA' ||
    header.typ !== typ ||
    typeof header.kid !== 'string'
  ) {
    throw unsigned('manifest header is not exactly {alg: "EdDSA", typ, kid}');
  }
  const verifier = verifiers.find((candidate) => candidate.kid === header.kid);
  if (verifier === undefined) throw unsigned('manifest is signed by a key this edge does not hold');
  if (signature.length !== 64) throw unsigned('manifest signature is not 64 bytes');
  const input = utf8(`${headerPart}.${payloadPart}`);
  // The runtime's synchronous check when it has one and the verifier carries its raw key.
  if (crypto !== undefined && verifier.raw !== undefined) {
    if (!crypto.verifyEd25519(verifier.raw, signature, input)) {
      throw unsigned('manifest signature does not verify with KEYSET_VERIFY_KEY');
    }
    return payload;
  }
  if (
    !(await globalThis.crypto.subtle.verify(
      { name: 'Ed25519' },
      verifier.publicKey,
      signature as BufferSource,
      input as BufferSource,
    ))
  ) {
    throw unsigned('manifest signature does not verify with KEYSET_VERIFY_KEY');
  }
  return payload;
}

function unsigned(message: string): KeywardError {
  return new KeywardError('envelope_signature_invalid', message);
}
