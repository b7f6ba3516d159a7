/** `npx keyward keygen`, run as an operator runs it: three env lines, a matching pair, fresh every time. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseKeysetKey } from '../../shared/keyset-envelope.ts';
import { importSigner, parseSigningSeed, parseVerifyKeys } from '../../shared/keyset-signing-key.ts';
import { ROOT } from '../../test/support/edge-processes.ts';

async function keygen(): Promise<Record<string, string>> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'control-plane/src/cli.ts'), 'keygen'],
    {
      cwd: ROOT,
      timeout: 30_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    },
  );
  const lines = stdout.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  return Object.fromEntries(lines.map((line) => line.split('=', 2) as [string, string]));
}

describe('npx keyward keygen', () => {
  it('prints KEYSET_SIGNING_KEY, its KEYSET_VERIFY_KEY and a KEYSET_KEY, fresh on every run', async () => {
    const [first, second] = [await keygen(), await keygen()];
    expect(Object.keys(first)).toEqual(['KEYSET_SIGNING_KEY', 'KEYSET_VERIFY_KEY', 'KEYSET_KEY']);
    const signer = await importSigner(parseSigningSeed(first.KEYSET_SIGNING_KEY as string));
    expect(parseVerifyKeys(first.KEYSET_VERIFY_KEY as string)).toEqual([signer.publicKey]);
    expect(parseKeysetKey(first.KEYSET_KEY as string)).toHaveLength(32);
    for (const name of Object.keys(first)) expect(second[name]).not.toBe(first[name]);
  });
});
