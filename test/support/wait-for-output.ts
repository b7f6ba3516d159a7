/** Waits (bounded) until a managed process prints a line matching a pattern, e.g. the port it listens on. */
import type { ManagedProcess } from './managed-process.ts';
import { waitFor } from './wait-for.ts';

/** The first match of `pattern` in the output of `child`; throws, with the output, on exit or timeout. */
export async function waitForOutput(
  child: ManagedProcess,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  try {
    return await waitFor(
      async () => {
        const found = pattern.exec(child.output());
        if (found) return found;
        if (child.exited) throw new Error(`${child.name} exited before it was ready`);
        return undefined;
      },
      { what: `${child.name} to print ${pattern}`, timeoutMs, intervalMs: 20 },
    );
  } catch (error) {
    await child.stop();
    throw new Error(`${(error as Error).message}\n--- ${child.name} output ---\n${child.output()}`);
  }
}
