/**
 * What `keyward_build_info` reports on the control plane and the edges: Keyward's version and the runtime the
 * process runs on. Web APIs only (the edge imports it on Workers too).
 */

/**
 * package.json's `version`, kept here rather than imported: a JSON import would need a path that differs between
 * the checkout and dist/, and an import attribute every runtime and bundler reads alike. A test holds the two equal.
 */
export const KEYWARD_VERSION = '0.1.0';

export interface RuntimeInfo {
  /** `node`, `bun`, `deno`, `workerd`, or the user agent's product name lower-cased. */
  runtime: string;
  /** The runtime's version as far as it tells ('' when it does not: Workers name none). */
  runtimeVersion: string;
}

const RUNTIMES: Record<string, string> = {
  'Node.js': 'node',
  Bun: 'bun',
  Deno: 'deno',
  'Cloudflare-Workers': 'workerd',
};

/** Longest label value taken from the user agent: whatever a runtime puts there stays one short series. */
const MAX_LABEL_LENGTH = 64;

/**
 * The runtime from `navigator.userAgent` (`Node.js/24`, `Bun/1.4.5`, `Deno/2.9.6`, `Cloudflare-Workers`). Node
 * names only its major version there; its full version comes from `process.versions.node` when `node` is given.
 */
export function runtimeInfo(userAgent: string | undefined, node?: string): RuntimeInfo {
  const [product = '', version = ''] = (userAgent ?? '').split(/[/ ]/, 2);
  const runtime = RUNTIMES[product] ?? (product.toLowerCase() || 'unknown');
  const runtimeVersion = runtime === 'node' && node ? node : version;
  return {
    runtime: runtime.slice(0, MAX_LABEL_LENGTH),
    runtimeVersion: runtimeVersion.slice(0, MAX_LABEL_LENGTH),
  };
}

/** The runtime this code runs on. */
export function currentRuntime(): RuntimeInfo {
  const globals = globalThis as {
    navigator?: { userAgent?: string };
    process?: { versions?: { node?: string } };
  };
  return runtimeInfo(globals.navigator?.userAgent, globals.process?.versions?.node);
}
