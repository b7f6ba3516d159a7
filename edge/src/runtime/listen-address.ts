/**
 * Where the Node, Bun and Deno edge entries listen: `PORT` (default 8787) on `HOST` (default 0.0.0.0, every
 * IPv4 interface, as the control plane's HOST). All interfaces by default so that an edge in a container or on
 * a host answers the apps and the control plane that push to it; HOST=127.0.0.1 keeps it to the machine (a
 * sidecar, or behind a local proxy). Workers take neither: routes decide there.
 */
import { EdgeError } from '../errors.ts';

export const DEFAULT_EDGE_PORT = 8787;
export const DEFAULT_EDGE_HOST = '0.0.0.0';

export interface ListenAddress {
  port: number;
  host: string;
}

/** Throws EdgeError `config_invalid` naming the variable when PORT or HOST is bad. */
export function listenAddress(env: { PORT?: string; HOST?: string }): ListenAddress {
  const portText = env.PORT?.trim() ?? '';
  let port = DEFAULT_EDGE_PORT;
  if (portText !== '') {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(port >= 0 && port <= 65_535)) {
      throw new EdgeError(
        'config_invalid',
        `PORT: expected a port number from 0 to 65535, got "${portText}"`,
      );
    }
  }
  const host = env.HOST?.trim() || DEFAULT_EDGE_HOST;
  if (/[\s/]/.test(host))
    throw new EdgeError('config_invalid', `HOST: expected an IP address or a host name`);
  return { port, host };
}
