/**
 * Entry run by `deno` and `bun` from the repository root: reads the JSON file of keysets and tokens named by its
 * one argument and prints their verdicts (test/support/runtime-verdicts.ts) as one JSON array.
 */
import { type RuntimeCases, verdictsOf } from './runtime-verdicts.ts';

const runtime = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
const path = runtime.Deno?.args[0] ?? runtime.process?.argv[2];
if (path === undefined) throw new Error('usage: verdicts-entry.ts <cases.json>');
const input = (await import(`file://${path}`, { with: { type: 'json' } })) as { default: RuntimeCases };
console.log(JSON.stringify(await verdictsOf(input.default)));
