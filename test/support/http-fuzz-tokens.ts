/**
 * Tokens for the HTTP verify-path fuzz suites: the signers (held, held but out of grace, foreign), a generator
 * of signed tokens of every shape, and SPEC section 6 as an oracle that says exactly when one must verify.
 */
import fc from 'fast-check';
import { DEFAULT_MAX_TOKEN_BYTES } from '../../shared/verify-token.ts';
import { secret } from './keysets.ts';

export const NOW = Date.parse('2026-11-25T12:00:00Z');
export const NOW_S = NOW / 1000;
const TOLERANCE_MS = 30_000;
export const FORBIDDEN_HEADERS = ['crit', 'jwk', 'jku', 'x5u', 'x5c', 'b64'] as const;
/**
 * A `sub` that can travel as X-Auth-Subject unchanged: printable ASCII, and no leading or trailing space, which
 * Headers (and every HTTP parser, as OWS) strips, so that " admin" would reach the upstream as "admin".
 */
export const HEADER_SAFE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

export type SignerName = 'active' | 'previous' | 'expired' | 'foreign';
export const SIGNERS: Record<SignerName, { secret: string; kid: string; verifies: boolean }> = {
  active: { secret: secret('http-fuzz-active'), kid: '', verifies: true },
  previous: { secret: secret('http-fuzz-previous'), kid: '', verifies: true },
  // Held, but its grace period is over at NOW.
  expired: { secret: secret('http-fuzz-expired'), kid: '', verifies: false },
  foreign: { secret: secret('http-fuzz-foreign'), kid: '', verifies: false },
};

export interface TokenSpec {
  signer: SignerName;
  hash: 'sha256' | 'sha384' | 'sha512';
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

const timeClaim = (center: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: fc.integer({ min: -200, max: 200 }).map((d) => center + d) },
    { weight: 2, arbitrary: fc.integer({ min: -10_000_000, max: 10_000_000 }).map((d) => center + d) },
    { weight: 1, arbitrary: fc.double({ min: center - 100, max: center + 100, noNaN: true }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(1e300, -1e300, 1e308, 0, -1, null, '1999999999', true, [NOW_S], { t: 1 }),
    },
  );

const kidChoice = fc.oneof(
  { weight: 6, arbitrary: fc.constant<'own' | 'none'>('own') },
  { weight: 4, arbitrary: fc.constant<'own' | 'none'>('none') },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom<SignerName>('active', 'previous', 'expired', 'foreign').map((s) => ({ of: s })),
      fc.constantFrom(
        '../../etc/passwd',
        "' OR 1=1 --",
        '\u0000',
        '__proto__',
        'constructor',
        'toString',
        '',
      ),
      fc.string({ maxLength: 50 }),
      fc.constantFrom(42, null, true, ['kid'], { kid: 'x' }),
    ),
  },
);

export const tokenSpec: fc.Arbitrary<TokenSpec> = fc
  .record({
    signer: fc.constantFrom<SignerName>('active', 'active', 'previous', 'expired', 'foreign'),
    alg: fc.oneof(
      { weight: 12, arbitrary: fc.constant('HS256') },
      {
        weight: 3,
        arbitrary: fc.constantFrom('HS384', 'HS512', 'none', 'RS256', 'ES256', 'hs256', 'HS256 ', ''),
      },
      { weight: 1, arbitrary: fc.constantFrom(256, null, ['HS256']) },
    ),
    hash: fc.constantFrom<TokenSpec['hash']>('sha256', 'sha256', 'sha256', 'sha384', 'sha512'),
    kid: kidChoice,
    typ: fc.option(fc.constantFrom('JWT', 'at+jwt', 'jwt', ''), { nil: undefined }),
    forbidden: fc.oneof(
      { weight: 8, arbitrary: fc.constant([] as string[]) },
      { weight: 1, arbitrary: fc.subarray([...FORBIDDEN_HEADERS], { minLength: 1 }) },
    ),
    extraHeader: fc.option(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
      {
        nil: undefined,
      },
    ),
    sub: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('alice', 'svc:payments', 'user@example.test') },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'alice\r\nX-Auth-Subject: root',
          'root\u0000',
          'r\u00f6t',
          42,
          { id: 1 },
          null,
        ),
      },
    ),
    exp: timeClaim(NOW_S),
    nbf: timeClaim(NOW_S),
    iat: fc.option(fc.integer({ min: 0, max: 4_000_000_000 }), { nil: undefined }),
    extraClaims: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    padding: fc.oneof(
      { weight: 12, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 9_000 }) },
    ),
  })
  .map((r) => {
    const header: Record<string, unknown> = { ...r.extraHeader };
    for (const name of [...FORBIDDEN_HEADERS, 'alg', 'kid', 'typ']) delete header[name];
    header.alg = r.alg;
    if (r.kid === 'own') header.kid = SIGNERS[r.signer].kid;
    else if (typeof r.kid === 'object' && r.kid !== null && 'of' in r.kid) header.kid = SIGNERS[r.kid.of].kid;
    else if (r.kid !== 'none') header.kid = r.kid;
    if (r.typ !== undefined) header.typ = r.typ;
    for (const name of r.forbidden) header[name] = name === 'b64' ? false : name === 'crit' ? ['exp'] : 'x';
    const claims: Record<string, unknown> = { ...r.extraClaims };
    for (const name of ['sub', 'exp', 'nbf', 'iat', 'iss', 'aud', 'pad']) delete claims[name];
    for (const [name, value] of Object.entries({ sub: r.sub, exp: r.exp, nbf: r.nbf, iat: r.iat })) {
      if (value !== undefined) claims[name] = value;
    }
    if (r.padding > 0) claims.pad = 'p'.repeat(r.padding);
    return { signer: r.signer, hash: r.hash, header, claims };
  });

/** SPEC section 6, as an oracle: does this signed token verify at NOW, over POST and over forward auth? */
export function oracle(spec: TokenSpec, token: string): { post: boolean; forwardAuth: boolean } {
  const { header, claims } = spec;
  const signer = SIGNERS[spec.signer];
  const kidOk = header.kid === undefined || header.kid === signer.kid;
  const exp = claims.exp;
  const nbf = claims.nbf;
  const timeOk =
    (exp === undefined || (typeof exp === 'number' && NOW < exp * 1000 + TOLERANCE_MS)) &&
    (nbf === undefined || (typeof nbf === 'number' && NOW >= nbf * 1000 - TOLERANCE_MS));
  const post =
    signer.verifies &&
    header.alg === 'HS256' &&
    spec.hash === 'sha256' &&
    FORBIDDEN_HEADERS.every((name) => !(name in header)) &&
    kidOk &&
    timeOk &&
    token.length <= DEFAULT_MAX_TOKEN_BYTES;
  const sub = claims.sub;
  return {
    post,
    forwardAuth: post && (sub === undefined || (typeof sub === 'string' && HEADER_SAFE.test(sub))),
  };
}
