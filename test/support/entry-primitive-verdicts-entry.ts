/**
 * Entry run by `deno` and `bun` from the repository root, like verdicts-entry.ts, with the verify primitive that
 * runtime's edge entry injects instead of WebCrypto: denoVerify under Deno (the HMAC in JavaScript for HS256, WebCrypto for
 * EdDSA and ES256), nodeVerify (the runtime's own node:crypto) under Bun.
 */
import { denoVerify } from '../../edge/src/runtime/deno-verify.ts';
import { nodeVerify } from '../../shared/runtime/node-verify.ts';
import type { VerifyPrimitive } from '../../shared/verify-primitive.ts';
import { type RuntimeCases, verdictsOf } from './runtime-verdicts.ts';

const runtime = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
const path = runtime.Deno?.args[0] ?? runtime.process?.argv[2];
if (path === undefined) throw new Error('usage: entry-primitive-verdicts-entry.ts <cases.json>');
const primitive = (runtime.Deno === undefined ? nodeVerify : denoVerify) as VerifyPrimitive;
const input = (await import(`file://${path}`, { with: { type: 'json' } })) as { default: RuntimeCases };
console.log(JSON.stringify(await verdictsOf(input.default, primitive)));
