import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { currentRuntime, KEYWARD_VERSION, runtimeInfo } from './build-info.ts';

describe('keyward_build_info labels', () => {
  it('KEYWARD_VERSION is package.json version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(KEYWARD_VERSION).toBe(pkg.version);
  });

  it("reads each runtime from its user agent; Node's full version from process.versions.node", () => {
    expect(runtimeInfo('Node.js/24', '24.22.3')).toEqual({ runtime: 'node', runtimeVersion: '24.22.3' });
    expect(runtimeInfo('Node.js/24')).toEqual({ runtime: 'node', runtimeVersion: '24' });
    expect(runtimeInfo('Bun/1.4.5', '24.3.0')).toEqual({ runtime: 'bun', runtimeVersion: '1.4.5' });
    expect(runtimeInfo('Deno/2.9.6')).toEqual({ runtime: 'deno', runtimeVersion: '2.9.6' });
    expect(runtimeInfo('Cloudflare-Workers')).toEqual({ runtime: 'workerd', runtimeVersion: '' });
    expect(runtimeInfo(undefined)).toEqual({ runtime: 'unknown', runtimeVersion: '' });
  });

  it('keeps an unknown runtime short: one bounded label value', () => {
    const { runtime, runtimeVersion } = runtimeInfo(`${'X'.repeat(500)}/${'9'.repeat(500)} more`);
    expect(runtime).toBe('x'.repeat(64));
    expect(runtimeVersion).toBe('9'.repeat(64));
  });

  it('on this Node: node and process.versions.node', () => {
    expect(currentRuntime()).toEqual({ runtime: 'node', runtimeVersion: process.versions.node });
  });
});
