/** One timer for the next key expiry: pruning runs again when the earliest previous key's grace ends. */
export class PruneTimer {
  readonly #now: () => Date;
  readonly #run: () => void;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(now: () => Date, run: () => void) {
    this.#now = now;
    this.#run = run;
  }

  /** Runs the pruning just after `at` (replacing any earlier schedule); the timer does not hold the process. */
  scheduleAt(at: Date): void {
    this.cancel();
    const delay = Math.min(Math.max(at.getTime() - this.#now().getTime(), 0) + 5, 2 ** 31 - 1);
    this.#timer = setTimeout(this.#run, delay);
    this.#timer.unref();
  }

  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
