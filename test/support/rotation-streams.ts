/**
 * Rotations in a loop from each of several control planes, as a fault test drives them: which secrets were
 * acknowledged (success), how many were refused, and how many each made after a mark.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Keyset } from '../../shared/keyset.ts';
import { computeKid } from '../../shared/kid.ts';
import { waitUntil } from './bounded-waits.ts';
import type { Harness } from './control-plane-harness.ts';
import { settle } from './grpc-outcome.ts';

export interface RotationStreams {
  /** Secrets whose RotateSecret answered success. */
  readonly acknowledged: string[];
  refused(): number;
  /** From now on, `acknowledgedSinceMark` counts per stream. */
  mark(): void;
  acknowledgedSinceMark(): number[];
  /** Milliseconds from `mark()` to the first success of a rotation started after it (Infinity: none yet). */
  firstAfterMarkMs(): number;
  /** Waits until every stream had `count` successes since the mark; returns a one-line summary. */
  resumed(what: string, timeoutMs: number, count?: number): Promise<string>;
  stop(): Promise<void>;
}

export function startRotationStreams(controlPlanes: Harness[]): RotationStreams {
  const acknowledged: string[] = [];
  const since = controlPlanes.map(() => 0);
  let refused = 0;
  let markedAt = Number.POSITIVE_INFINITY;
  let first = Number.POSITIVE_INFINITY;
  let running = true;
  const loops = controlPlanes.map(async (cp, index) => {
    while (running) {
      const secret = `stream-${index}-${randomBytes(24).toString('base64url')}`;
      const startedAt = performance.now();
      const outcome = await settle(cp.rotate(secret));
      if (outcome.response?.success) {
        acknowledged.push(secret);
        if (startedAt > markedAt) {
          since[index] = (since[index] as number) + 1;
          first = Math.min(first, performance.now() - markedAt);
        }
      } else {
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  });
  return {
    acknowledged,
    refused: () => refused,
    mark() {
      markedAt = performance.now();
    },
    acknowledgedSinceMark: () => [...since],
    firstAfterMarkMs: () => first,
    async resumed(what, timeoutMs, count = 3) {
      await waitUntil(what, () => since.every((made) => made >= count), timeoutMs);
      return (
        `${acknowledged.length} rotations acknowledged, ${refused} refused; ` +
        `first rotation started after the mark acknowledged ${Math.round(first)} ms after it`
      );
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Every acknowledged secret is in `keyset` (active or previous), no version names two keys, and the history
 * (written once per version) names the same key as the keyset for each version.
 */
export async function expectAcknowledgedKept(
  keyset: Keyset,
  history: Record<string, string>,
  acknowledged: string[],
): Promise<void> {
  const held = new Set(keyset.keys.map((key) => key.kid));
  let lost = 0;
  for (const secret of acknowledged) if (!held.has(await computeKid(secret))) lost++;
  expect(lost, 'acknowledged rotations missing from the keyset').toBe(0);
  const versions = keyset.keys.map((key) => key.version);
  expect(new Set(versions).size).toBe(versions.length);
  for (const key of keyset.keys) expect(JSON.parse(history[String(key.version)] as string).kid).toBe(key.kid);
}
