// Preloaded (`node --import`) into the compiled Node edge by the memory breakdown: resolves `jose` and
// `@upstash/redis` to empty stand-ins exporting the names the edge imports, so that the idle RSS shows what the
// edge would hold if it loaded them only when used (jose for envelopes the synchronous path does not open, and
// the verify key's kid; Upstash only when UPSTASH_REDIS_REST_URL is set). Nothing here runs at idle: the edge
// started without a keyset source calls neither. In-thread hooks (module.registerHooks): no loader thread.
import { registerHooks } from 'node:module';

const STUBS = {
  jose: 'export class CompactEncrypt {} export function compactDecrypt() {} export const errors = {}; export function calculateJwkThumbprint() {}',
  '@upstash/redis': 'export class Redis {}',
};

registerHooks({
  resolve(specifier, context, next) {
    const source = STUBS[specifier];
    if (source === undefined) return next(specifier, context);
    return { url: `data:text/javascript,${encodeURIComponent(source)}`, format: 'module', shortCircuit: true };
  },
});
