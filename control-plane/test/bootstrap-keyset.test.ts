/**
 * The first keyset from the secret that existed before Keyward (SPEC section 4): `jwt_secrets:active` on a real
 * valkey-server. Issuers already sign with that secret, so it becomes
 * version 1 whatever its length, with a start-up warning that names the key and never quotes the secret.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../shared/base64url.ts';
import { prepareKeyRing } from '../../shared/key-ring.ts';
import { type Keyset, MIN_SECRET_BYTES } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { webCryptoVerify } from '../../shared/verify-primitive.ts';
import { DEFAULT_MAX_TOKEN_BYTES, verifyToken } from '../../shared/verify-token.ts';
import { useValkeyReplicas } from '../../test/support/keyset-replica.ts';
import { expectConsistent } from '../../test/support/valkey-layout.ts';
import { VALKEY_KEYS } from '../src/storage/valkey-storage.ts';

const KEYSET_KEY = new Uint8Array(randomBytes(32));
/** The README's own example (`SET jwt_secrets:active "strong-initial-secret-here"`): 26 bytes. */
const README_SECRET = 'strong-initial-secret-here';
const SHORT_WARNING = `shorter than ${MIN_SECRET_BYTES} bytes`;

/** Whether a token an existing issuer signed with `secret` (HS256, no kid) verifies against `keyset`. */
async function verifiesIssuerToken(keyset: Keyset, secret: string): Promise<boolean> {
  const token = await new SignJWT({ sub: 'existing-issuer' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(utf8(secret));
  const ring = await prepareKeyRing(keyset, webCryptoVerify);
  const result = await verifyToken(token, ring, {
    algorithms: ['HS256'],
    clockToleranceMs: 0,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    now: () => Date.now(),
  });
  return result.valid;
}

describe('bootstrapping from jwt_secrets:active (Valkey)', () => {
  const valkey = useValkeyReplicas(KEYSET_KEY);

  it("takes the README's 26-byte example as version 1, unchanged, and warns once naming the key, never the secret", async () => {
    expect(utf8(README_SECRET).length).toBeLessThan(MIN_SECRET_BYTES);
    await valkey.admin.set(VALKEY_KEYS.active, README_SECRET);
    const { manager, warnings } = await valkey.replica();
    const { keyset } = await manager.start();

    expect(keyset.version).toBe(1);
    expect(keyset.keys).toEqual([
      expect.objectContaining({
        alg: 'HS256',
        status: 'active',
        version: 1,
        kid: await computeKid(README_SECRET),
        expires_at: null,
      }),
    ]);
    // Existing services that GET the key keep getting the same secret, and every key agrees with the keyset.
    expect(await valkey.admin.get(VALKEY_KEYS.active)).toBe(README_SECRET);
    const { keyset: stored } = await expectConsistent(valkey.admin, KEYSET_KEY);
    expect(await verifiesIssuerToken(stored, README_SECRET)).toBe(true);

    const short = warnings.filter((warning) => warning.includes(SHORT_WARNING));
    expect(short).toHaveLength(1);
    expect(short[0]).toContain('jwt_secrets:active');
    expect(short[0]).toMatch(/rotate/);
    const said = warnings.join('\n');
    expect(said).not.toContain(README_SECRET);
    expect(said).not.toContain(String(utf8(README_SECRET).length));
    expect(said).not.toContain('generated the first secret');
  });

  it('a 31-byte secret becomes version 1 too; a later start on that keyset does not bootstrap or warn again', async () => {
    const secret = 'a'.repeat(MIN_SECRET_BYTES - 1);
    await valkey.admin.set(VALKEY_KEYS.active, secret);
    const first = await valkey.replica();
    const { keyset } = await first.manager.start();
    expect(keyset.version).toBe(1);
    expect(keyset.keys[0]?.kid).toBe(await computeKid(secret));
    expect(first.warnings.filter((warning) => warning.includes(SHORT_WARNING))).toHaveLength(1);

    const second = await valkey.replica();
    expect((await second.manager.start()).keyset).toEqual(keyset);
    expect(second.warnings.filter((warning) => warning.includes(SHORT_WARNING))).toEqual([]);
  });

  it('a secret of 32 bytes or more becomes version 1 without the warning', async () => {
    const secret = randomBytes(24).toString('base64url'); // 32 bytes
    await valkey.admin.set(VALKEY_KEYS.active, secret);
    const { manager, warnings } = await valkey.replica();
    const { keyset } = await manager.start();
    expect(keyset.version).toBe(1);
    expect(keyset.keys[0]?.kid).toBe(await computeKid(secret));
    expect(warnings).toEqual([]);
  });
});
