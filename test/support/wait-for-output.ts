/** Waits (bounded) until a managed process prints a line matching a pattern, e.g. the port it listens on. */
import type { ManagedProcess } from './managed-process.ts';
import { waitFor } from './wait-for.ts';

/** Returned by the probe once the process is gone: no output can come any more. */
const EXITED = Symbol('exited');

/** The first match of `pattern` in the output of `child`; throws, with the output, on exit or timeout. */
export async function waitForOutput(
  child: ManagedProcess,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  try {
    const found = await waitFor(
      async () => pattern.exec(child.output()) ?? (child.exited ? EXITED : undefined),
      { what: `${child.name} to print ${pattern}`, timeoutMs, intervalMs: 20 },
    );
    if (found === EXITED) throw new Error(`${child.name} exited before it printed ${pattern}`);
    return found;
  } catch (error) {
    await child.stop();
    throw new Error(`${(error as Error).message}\n--- ${child.name} output ---\n${child.output()}`);
  }
}
