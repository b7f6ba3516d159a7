/**
 * The soak's settings, from SOAK_* environment variables (see soak.ts); a bad value stops the soak with exit
 * code 2 and the variable's name.
 */
import { parseDuration } from '../../shared/duration.ts';
import type { EdgeRuntime } from '../support/edge-processes.ts';

export interface SoakSettings {
  durationMs: number;
  rotateEveryMs: number;
  graceMs: number;
  sampleEveryMs: number;
  warmupMs: number;
  /** Per edge. */
  connections: number;
  runtimes: EdgeRuntime[];
  /** A key leaves the pools this long before its grace ends, so no token is sent near its key's expiry. */
  retireMarginMs: number;
}

const RUNTIMES: readonly EdgeRuntime[] = ['node', 'workerd', 'bun'];

function fail(message: string): never {
  console.error(`soak: ${message}`);
  process.exit(2);
}

function setting(name: string, fallback: string): string {
  return process.env[name]?.trim() || fallback;
}

function durationSetting(name: string, fallback: string): number {
  const text = setting(name, fallback);
  try {
    const ms = parseDuration(text);
    if (ms > 0) return ms;
  } catch {
    // Reported below, with the variable's name.
  }
  return fail(`${name}="${text}" is not a positive duration (e.g. 10m, 3s, 500ms)`);
}

/** Reads and checks every SOAK_* variable once. */
export function readSoakSettings(): SoakSettings {
  const durationMs = durationSetting('SOAK_DURATION', '10m');
  const rotateEveryMs = durationSetting('SOAK_ROTATE_EVERY', '3s');
  const graceMs = durationSetting('SOAK_GRACE', '60s');
  const sampleEveryMs = durationSetting('SOAK_SAMPLE_EVERY', '5s');
  const warmupMs = durationSetting('SOAK_WARMUP', `${Math.round(Math.min(60_000, durationMs / 4))}ms`);
  const connections = Number(setting('SOAK_CONNECTIONS', '8'));
  if (!Number.isInteger(connections) || connections < 1 || connections > 256) {
    fail('SOAK_CONNECTIONS must be a whole number from 1 to 256');
  }
  const names = setting('SOAK_EDGES', 'node,workerd,bun')
    .split(',')
    .map((name) => name.trim());
  if (names.length === 0 || names.some((name) => !RUNTIMES.includes(name as EdgeRuntime))) {
    fail(`SOAK_EDGES must list some of node, workerd, bun; got "${names.join(',')}"`);
  }
  const retireMarginMs = Math.max(5_000, graceMs / 4);
  if (graceMs - retireMarginMs < 2 * rotateEveryMs) {
    fail('SOAK_GRACE must leave room for a few rotations (at least 2x SOAK_ROTATE_EVERY + 5s)');
  }
  return {
    durationMs,
    rotateEveryMs,
    graceMs,
    sampleEveryMs,
    warmupMs,
    connections,
    runtimes: names as EdgeRuntime[],
    retireMarginMs,
  };
}
