/**
 * What `keyward` exits with and how it says so: one exit code per kind of outcome (the table in `keyward --help`
 * and the README), and CliError, the one-line failure every command ends with instead of a stack trace.
 */
import { status } from '@grpc/grpc-js';

/** The exit codes, documented in `keyward --help` and the README's CLI section. */
export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  refused: 3,
  unavailable: 4,
  partial: 5,
} as const;

export type ExitKind = keyof typeof EXIT;

export const EXIT_CODE_TABLE = `exit codes:
  0  success
  1  anything unexpected (also: audit found a broken chain)
  2  usage error: unknown command or option, missing or bad argument, unreadable file
  3  refused: the server said no (permission denied, invalid argument, failed precondition, not found, too large)
  4  unavailable: cannot connect, deadline exceeded, storage down, write conflict; retry later
  5  partial: the change is stored but not every edge confirmed it (rotate, stage, promote, revoke, revoke-token)`;

/** A failure the CLI reports in one line; `code` is the machine-readable name in `--json` output. */
export class CliError extends Error {
  readonly kind: ExitKind;
  readonly code: string;

  constructor(kind: ExitKind, code: string, message: string) {
    super(message);
    this.name = 'CliError';
    this.kind = kind;
    this.code = code;
  }
}

export const usageError = (message: string) => new CliError('usage', 'usage', message);

/** gRPC status codes as words, and which exit each one means. */
const GRPC_OUTCOMES: Record<number, [string, ExitKind]> = {
  [status.CANCELLED]: ['cancelled', 'unexpected'],
  [status.UNKNOWN]: ['unknown', 'unexpected'],
  [status.INVALID_ARGUMENT]: ['invalid argument', 'refused'],
  [status.DEADLINE_EXCEEDED]: ['deadline exceeded', 'unavailable'],
  [status.NOT_FOUND]: ['not found', 'refused'],
  [status.ALREADY_EXISTS]: ['already exists', 'refused'],
  [status.PERMISSION_DENIED]: ['permission denied', 'refused'],
  // The control plane's size limits (a request over its limit, a revocation list that would pass 16 MiB).
  [status.RESOURCE_EXHAUSTED]: ['too large', 'refused'],
  [status.FAILED_PRECONDITION]: ['failed precondition', 'refused'],
  [status.ABORTED]: ['conflict', 'unavailable'],
  [status.OUT_OF_RANGE]: ['out of range', 'refused'],
  [status.UNIMPLEMENTED]: ['unimplemented', 'unexpected'],
  [status.INTERNAL]: ['internal error', 'unexpected'],
  [status.UNAVAILABLE]: ['unavailable', 'unavailable'],
  [status.DATA_LOSS]: ['data loss', 'unexpected'],
  [status.UNAUTHENTICATED]: ['unauthenticated', 'refused'],
};

/**
 * A rejected gRPC call to `address` as a CliError: the status in words, then what the server said (first line
 * only), or which address could not be reached.
 */
export function grpcFailure(error: unknown, address: string): CliError {
  const { code, details, message } = error as { code?: unknown; details?: unknown; message?: unknown };
  const outcome = typeof code === 'number' ? GRPC_OUTCOMES[code] : undefined;
  let text = firstLine(typeof details === 'string' && details !== '' ? details : String(message ?? error));
  if (code === status.UNAVAILABLE && text.startsWith('No connection established')) {
    const cause = /connect (E[A-Z]+)/.exec(text)?.[1];
    text = `cannot connect to the control plane at ${address}${cause ? ` (${cause})` : ''}`;
  }
  if (outcome === undefined) return new CliError('unexpected', 'unexpected', text);
  const [word, kind] = outcome;
  return new CliError(kind, word.replaceAll(' ', '_'), `${word}: ${text}`);
}

/** Anything that escaped as a CliError of kind `unexpected`, its first line only (never a stack). */
export function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  return new CliError(
    'unexpected',
    'unexpected',
    firstLine(error instanceof Error ? error.message : String(error)),
  );
}

export function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
