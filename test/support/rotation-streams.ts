/**
 * Rotations in a loop from each of several control planes, as a fault test drives them: which secrets were
 * acknowledged (success), how many were refused, and how many each made after a mark.
 */
import { randomBytes } from 'node:crypto';
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
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
