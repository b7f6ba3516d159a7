/**
 * Large inputs take the runtime's own `Uint8Array.prototype.toBase64` where it has one (Bun and Deno do; the
 * Node this suite runs on may not) and Keyward's one-pass encoder elsewhere: the real `bun` and `deno` binaries
 * encode the same bytes as Node's Buffer, at sizes on both sides of the one-pass threshold and from odd offsets
 * (base64url.test.ts checks Node's own path).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/support/edge-entry-commands.ts';

const BIN = join(REPO_ROOT, 'node_modules/.bin');
const SLICES = [
  [0, 4_095],
  [0, 4_096],
  [1, 4_098],
  [3, 4_100],
  [7, 300_007],
  [2, 300_003],
] as const;

/** The same bytes in every runtime, made by the same formula. */
const SOURCE = `
const whole = new Uint8Array(300_010);
for (let i = 0; i < whole.length; i++) whole[i] = (i * 7919 + (i >> 8)) & 255;
`;

const dir = mkdtempSync(join(tmpdir(), 'keyward-base64url-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expected(): { native: boolean; texts: string[] } {
  const whole = new Uint8Array(300_010);
  for (let i = 0; i < whole.length; i++) whole[i] = (i * 7919 + (i >> 8)) & 255;
  const texts = SLICES.map(([start, end]) => Buffer.from(whole.subarray(start, end)).toString('base64url'));
  return { native: true, texts };
}

describe.each([
  ['bun', [join(BIN, 'bun')]],
  ['deno', [join(BIN, 'deno'), 'run', '--allow-read']],
] as const)('encodeBase64url under %s', (runtime, command) => {
  it('encodes large inputs as Buffer does, with the native encoder', () => {
    const script = join(dir, `${runtime}.ts`);
    writeFileSync(
      script,
      `import { encodeBase64url } from ${JSON.stringify(join(REPO_ROOT, 'shared/base64url.ts'))};
${SOURCE}
const texts = ${JSON.stringify(SLICES)}.map(([start, end]) => encodeBase64url(whole.subarray(start, end)));
console.log(JSON.stringify({ native: typeof Uint8Array.prototype.toBase64 === 'function', texts }));
`,
    );
    const [bin, ...args] = command;
    const run = spawnSync(bin, [...args, script], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(expected());
  });
});
