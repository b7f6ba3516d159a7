/**
 * Edges converging on the control plane's keyset after a fault: each edge holds the given version and verifies a
 * token signed with the active secret of that version (kid in the header), within a bounded wait.
 */
import { computeKid } from '../../shared/kid.ts';
import { waitUntil } from './bounded-waits.ts';
import { edgeVersion, verifyAt } from './edge-http-client.ts';
import { signToken } from './sign-token.ts';

/**
 * Waits until every edge in `edges` (base URLs) reports `version` at /healthz and answers 200 to a token of
 * `activeSecret`; throws naming the edges that did not, with what they held. Returns the milliseconds it took.
 */
export async function awaitEdgesConverged(
  edges: readonly { name: string; url: string }[],
  version: number,
  activeSecret: string,
  timeoutMs: number,
): Promise<number> {
  const token = signToken(activeSecret, await computeKid(activeSecret));
  const started = performance.now();
  const held = new Map<string, string>();
  const converged = async (edge: { name: string; url: string }) => {
    const at = await edgeVersion(edge.url).catch(() => Number.NaN);
    const verdict =
      at === version ? (await verifyAt(edge.url, token).catch(() => undefined))?.status : undefined;
    held.set(edge.name, `version ${at}${verdict === undefined ? '' : `, /verify ${verdict}`}`);
    return at === version && verdict === 200;
  };
  try {
    await waitUntil(
      `every edge on keyset version ${version}, verifying its active kid`,
      async () => (await Promise.all(edges.map(converged))).every(Boolean),
      timeoutMs,
    );
  } catch (error) {
    const states = [...held].map(([name, state]) => `${name}: ${state}`).join('; ');
    throw new Error(`${(error as Error).message} (${states})`);
  }
  return performance.now() - started;
}
