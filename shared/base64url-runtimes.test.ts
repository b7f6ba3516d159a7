/**
 * Large inputs take the runtime's own `Uint8Array.prototype.toBase64` where it has one (Bun and Deno do; the
 * Node this suite runs on may not) and Keyward's one-pass encoder elsewhere: under the real `bun` and `deno`
 * binaries, each path encodes the same bytes as Node's Buffer, at sizes on both sides of the one-pass threshold and
 * from odd offsets (base64url.test.ts checks Node's own path). A counter around the native method shows which
 * path ran; the one-pass encoder runs with the native method deleted before the module loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EDGE_ENTRY_COMMANDS, REPO_ROOT } from '../test/support/edge-entry-commands.ts';

const SLICES = [
  [0, 4_095],
  [0, 4_096],
  [1, 4_098],
  [3, 4_100],
  [7, 300_007],
  [2, 300_003],
] as const;
/** Slices at or above the one-pass threshold (4,096 bytes). */
const LARGE = SLICES.filter(([start, end]) => end - start >= 4_096).length;

const dir = mkdtempSync(join(tmpdir(), 'keyward-base64url-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each slice as Node's Buffer encodes it (the bytes are the ones the scripts make, by the same formula). */
function expected(): string[] {
  const whole = new Uint8Array(300_010);
  for (let i = 0; i < whole.length; i++) whole[i] = (i * 7919 + (i >> 8)) & 255;
  return SLICES.map(([start, end]) => Buffer.from(whole.subarray(start, end)).toString('base64url'));
}

/** The runtime's command without the entry: its interpreter and the flags the edge runs it with. */
const runtimeCommand = (runtime: 'bun' | 'deno') => EDGE_ENTRY_COMMANDS[runtime].slice(0, -1);

function encodeUnder(runtime: 'bun' | 'deno', native: boolean): unknown {
  const script = join(dir, `${runtime}-${native ? 'native' : 'one-pass'}.ts`);
  writeFileSync(
    script,
    `const proto = Uint8Array.prototype as { toBase64?: (...args: unknown[]) => string };
const original = proto.toBase64;
let nativeCalls = 0;
if (${native}) {
  proto.toBase64 = function (this: Uint8Array, ...args: unknown[]) {
    nativeCalls++;
    return (original as (...args: unknown[]) => string).apply(this, args);
  };
} else {
  delete proto.toBase64;
}
const { encodeBase64url } = await import(${JSON.stringify(join(REPO_ROOT, 'shared/base64url.ts'))});
const whole = new Uint8Array(300_010);
for (let i = 0; i < whole.length; i++) whole[i] = (i * 7919 + (i >> 8)) & 255;
const texts = ${JSON.stringify(SLICES)}.map(([start, end]) => encodeBase64url(whole.subarray(start, end)));
console.log(JSON.stringify({ hadNative: typeof original === 'function', nativeCalls, texts }));
`,
  );
  const [bin, ...args] = runtimeCommand(runtime) as [string, ...string[]];
  const run = spawnSync(bin, [...args, script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    timeout: 60_000,
  });
  expect(run.error).toBeUndefined();
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout);
}

describe.each(['bun', 'deno'] as const)('encodeBase64url under %s', (runtime) => {
  it('encodes large inputs as Buffer does, with the native encoder', () => {
    expect(encodeUnder(runtime, true)).toEqual({ hadNative: true, nativeCalls: LARGE, texts: expected() });
  });

  it('encodes large inputs as Buffer does, with the one-pass encoder when the runtime has no native one', () => {
    expect(encodeUnder(runtime, false)).toEqual({ hadNative: true, nativeCalls: 0, texts: expected() });
  });
});
