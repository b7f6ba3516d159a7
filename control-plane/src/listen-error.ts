/** The start-up error for a port that cannot be listened on, naming the variable and the address. */

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine (check HOST)',
  ENOTFOUND: 'host name does not resolve (check HOST)',
};

/**
 * `HTTP_PORT 8080 on 0.0.0.0: address in use (EADDRINUSE)`. Takes Node's listen errors (with `code`) and
 * grpc-js bind errors (the listen error only as text).
 */
export function listenError(variable: string, host: string, port: number, cause: unknown): Error {
  const text = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? /\b(E[A-Z]{3,})\b/.exec(text)?.[1];
  const reason = code === undefined ? text : `${REASONS[code] ?? text} (${code})`;
  return new Error(`${variable} ${port} on ${host}: ${reason}`, { cause });
}
