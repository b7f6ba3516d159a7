/** Waits that fail naming what they waited for, generous because the machine is shared: a hang is a bug. */

/** Polls `check` every 10 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `promise`, or a failure naming `what` when it has not settled within `timeoutMs`. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads until `accept` takes the value, every `intervalMs`; returns it, or throws after `timeoutMs` naming the
 * last value (an error by its name only: its message may quote what it read).
 */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 5,
): Promise<T> {
  const started = performance.now();
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (performance.now() - started > timeoutMs) {
      const shown = value instanceof Error ? value.name : JSON.stringify(value);
      throw new Error(`condition not met within ${timeoutMs} ms: ${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
