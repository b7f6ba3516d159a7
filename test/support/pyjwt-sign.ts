/**
 * Tokens signed outside Keyward and outside JavaScript: PyJWT (Debian's python3-jwt, with python3-cryptography)
 * signs from the private JWK, as a Python issuer reading `jwt_secrets:signing_key` would. Node only (it runs
 * Python). Debian's interpreter is asked by its path because the packages live in its dist-packages, which a
 * python3 earlier in PATH (pyenv, a virtualenv) would not see.
 */
import { spawnSync } from 'node:child_process';
import type { NewKeyPair } from '../../shared/keyset.ts';
import { privateJwk } from './key-pairs.ts';

export const DEBIAN_PYTHON = '/usr/bin/python3';

// argv[1]: the claims as JSON; stdin: the private JWK (it never appears on a command line).
const SIGN = `
import json, sys, jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
jwk = json.load(sys.stdin)
key = (ECAlgorithm if jwk["kty"] == "EC" else OKPAlgorithm).from_jwk(json.dumps(jwk))
sys.stdout.write(jwt.encode(json.loads(sys.argv[1]), key, algorithm=jwk["alg"], headers={"kid": jwk["kid"]}))
`;

/** A token PyJWT signs with the pair's private key, kid in the header. */
export function signWithPyJwt(pair: NewKeyPair, claims: Record<string, unknown>): string {
  const run = spawnSync(DEBIAN_PYTHON, ['-c', SIGN, JSON.stringify(claims)], {
    input: JSON.stringify(privateJwk(pair)),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (run.status !== 0) {
    throw new Error(`PyJWT did not sign (python3-jwt and python3-cryptography installed?): ${run.stderr}`);
  }
  return run.stdout.trim();
}

/** PyJWT's version, for test names and reports. */
export function pyJwtVersion(): string {
  const run = spawnSync(DEBIAN_PYTHON, ['-c', 'import jwt; print(jwt.__version__)'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : 'missing';
}
