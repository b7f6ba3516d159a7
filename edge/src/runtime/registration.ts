/**
 * Self-registration of an edge process (Node, Bun, Deno): with EDGE_PUBLIC_URL (the base URL the control plane
 * reaches this edge at) and EDGE_REGISTRATION_TOKEN, the edge announces itself with `POST /edges` on the control
 * plane's HTTP port and renews the lease every third of it, so an autoscaled edge is pushed to from its first
 * minute and forgotten a lease after it stops. The control plane is CONTROL_PLANE_URL, or KEYSET_URL's origin.
 * Workers do not register: they are reached through one route whatever the isolate, and pull.
 */
import { EdgeError } from '../errors.ts';

export interface RegistrationEnv {
  EDGE_PUBLIC_URL?: string;
  EDGE_REGISTRATION_TOKEN?: string;
  CONTROL_PLANE_URL?: string;
  KEYSET_URL?: string;
}

/** Retried this soon after a failed registration (or a third of the lease, if shorter). */
const RETRY_MS = 5_000;
const TIMEOUT_MS = 5_000;

export interface Registration {
  /** Resolves after the first attempt (whatever its outcome), for tests and start-up logs. */
  readonly first: Promise<boolean>;
  stop(): void;
}

/**
 * Starts registering when EDGE_PUBLIC_URL and EDGE_REGISTRATION_TOKEN are set; undefined when neither is. Throws
 * EdgeError `config_invalid` naming the variable when only one is, or when there is no control plane to ask.
 */
export function startRegistration(
  env: RegistrationEnv,
  log: (message: string) => void,
  fetchImpl: typeof fetch = fetch,
): Registration | undefined {
  const publicUrl = env.EDGE_PUBLIC_URL?.trim() || undefined;
  const token = env.EDGE_REGISTRATION_TOKEN?.trim() || undefined;
  if (publicUrl === undefined && token === undefined) return undefined;
  if (publicUrl === undefined) throw invalid('EDGE_PUBLIC_URL', 'required with EDGE_REGISTRATION_TOKEN');
  if (token === undefined) throw invalid('EDGE_REGISTRATION_TOKEN', 'required with EDGE_PUBLIC_URL');
  if (!/^https?:\/\//.test(publicUrl)) throw invalid('EDGE_PUBLIC_URL', 'expected an http(s) URL');
  const endpoint = registrationEndpoint(env);

  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let lastProblem = '';
  const attempt = async (): Promise<number> => {
    try {
      const response = await fetchImpl(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: publicUrl }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const body = (await response.json().catch(() => ({}))) as { lease_s?: unknown; error?: unknown };
      const leaseS = Number(body.lease_s);
      if (response.status === 200 && Number.isFinite(leaseS) && leaseS > 0) {
        if (lastProblem !== '') log(`registration: registered again at ${endpoint.origin}`);
        lastProblem = '';
        return (leaseS * 1000) / 3;
      }
      report(
        `HTTP ${response.status}${typeof body.error === 'string' ? ` ${body.error.slice(0, 100)}` : ''}`,
      );
    } catch (error) {
      report((error as Error).name === 'TimeoutError' ? 'timeout' : (error as Error).message);
    }
    return RETRY_MS;
  };
  // One line per change of problem, not one per attempt.
  const report = (problem: string) => {
    if (problem !== lastProblem) log(`registration: ${endpoint.origin} refused or unreachable: ${problem}`);
    lastProblem = problem;
  };
  const loop = async (): Promise<boolean> => {
    const next = await attempt();
    if (!stopped) {
      timer = setTimeout(loop, next);
      (timer as { unref?: () => void }).unref?.();
    }
    return lastProblem === '';
  };
  const first = loop();
  return {
    first,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function registrationEndpoint(env: RegistrationEnv): URL {
  const base = env.CONTROL_PLANE_URL?.trim() || env.KEYSET_URL?.trim();
  const name = env.CONTROL_PLANE_URL?.trim() ? 'CONTROL_PLANE_URL' : 'KEYSET_URL';
  if (!base) throw invalid('CONTROL_PLANE_URL', 'required with EDGE_PUBLIC_URL (or set KEYSET_URL)');
  try {
    return new URL('/edges', base);
  } catch {
    throw invalid(name, 'expected an http(s) URL');
  }
}

function invalid(name: string, problem: string): EdgeError {
  return new EdgeError('config_invalid', `${name}: ${problem}`);
}
