// Types of the `cloudflare:test` module (SELF, env, execution contexts) for tsc.
/// <reference types="@cloudflare/vitest-plugin/types" />
