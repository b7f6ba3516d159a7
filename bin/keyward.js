#!/usr/bin/env node
// The `keyward` command. In a checkout it runs control-plane/src/cli.ts (Node strips the types); the packed
// package carries no .ts files, only dist/ (compiled by `npm run build` at `npm pack`), since Node refuses to
// strip types under node_modules.
import { existsSync } from 'node:fs';

const source = new URL('../control-plane/src/cli.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/control-plane/src/cli.js', import.meta.url).href);
