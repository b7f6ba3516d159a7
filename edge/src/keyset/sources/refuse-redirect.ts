/** Pulls are made with `redirect: 'manual'`: a redirect is a failed pull, never followed. */
import { EdgeError } from '../../errors.ts';

/**
 * Throws `pull_failed` naming the source for a 3xx other than 304 (or the opaque answer a browser-style fetch
 * gives for one): only the configured origin speaks for the control plane, not wherever its answer points.
 */
export async function refuseRedirect(response: Response, source: string): Promise<void> {
  const { status, type } = response;
  if (type !== 'opaqueredirect' && (status < 300 || status > 399 || status === 304)) return;
  await response.body?.cancel();
  throw new EdgeError('pull_failed', `${source} answered ${response.status}, a redirect: not followed`);
}
