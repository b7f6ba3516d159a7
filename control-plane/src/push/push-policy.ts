/**
 * When the control plane pushes: every replica pushes each newer version it comes to hold, whoever wrote it.
 * The writer's own push is lost when it crashes or its storage reply is lost after the commit. Once per version
 * per replica; edges answer 200 for a version they hold and 409 for an older one, so the duplicates change nothing.
 */
import type { KeysetManager } from '../keyset/keyset-manager.ts';
import type { Logger } from '../logger.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import type { StoredKeyset } from '../storage/keyset-storage.ts';
import type { EdgePusher } from './edge-pusher.ts';

/** Pushes every newer keyset `manager` installs once `start` was called (not during the manager's own start). */
export function pushNewerVersions(deps: {
  manager: KeysetManager;
  pusher: EdgePusher;
  metrics: ControlPlaneMetrics;
  logger: Logger;
}): { start(initial: StoredKeyset): void } {
  const { manager, pusher, metrics, logger } = deps;
  let started = false;
  let pushedVersion = 0;
  const push = async (stored: StoredKeyset) => {
    const roundStarted = performance.now();
    const outcomes = await pusher.pushAll(stored);
    // Rounds that reached edges: with no EDGE_URLS (or a stopped pusher) nothing was pushed, nothing is timed.
    if (outcomes.length > 0) {
      const confirmed = outcomes.every((edge) => edge.confirmed);
      metrics.pushRoundDuration.observe(
        { outcome: confirmed ? 'all_confirmed' : 'not_all_confirmed' },
        (performance.now() - roundStarted) / 1000,
      );
    }
    for (const edge of outcomes) {
      // A push outcome's version is the edge's confirmed one, whether this push landed or not.
      metrics.edgeConfirmedVersion.set({ target: edge.url }, edge.version);
      if (!edge.confirmed)
        logger.warn(
          { edge: edge.url, error: edge.error, version: stored.keyset.version },
          'edge did not confirm the keyset',
        );
    }
  };
  const pushIfNewer = (stored: StoredKeyset) => {
    if (stored.keyset.version <= pushedVersion) return;
    pushedVersion = stored.keyset.version;
    // A background push has no caller to answer: a failure (e.g. storage down while moving above an edge that
    // reports a newer version) is logged, never left as an unhandled rejection that would stop the process.
    push(stored).catch((error: unknown) =>
      logger.warn(
        { version: stored.keyset.version, error: error instanceof Error ? error.message : String(error) },
        'background push failed',
      ),
    );
  };
  manager.on('installed', (stored) => {
    // Not during start: a keyset about to be re-sealed (KEYSET_KEY or KEYSET_SIGNING_KEY changed) would only be refused.
    if (started) pushIfNewer(stored);
  });
  return {
    start(initial) {
      started = true;
      pushIfNewer(initial);
    },
  };
}
