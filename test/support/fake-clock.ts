/** A clock a test moves by hand, given to the control plane as its one clock (startControlPlane's `now`). */
export class FakeClock {
  #ms: number;

  constructor(start: Date) {
    this.#ms = start.getTime();
  }

  /** The time now, as the control plane reads it. */
  readonly now = (): Date => new Date(this.#ms);

  /** Moves the clock to `time` (never backwards: a test that does so is wrong). */
  set(time: Date): void {
    if (time.getTime() < this.#ms) throw new Error(`the clock only moves forward (to ${time.toISOString()})`);
    this.#ms = time.getTime();
  }

  advance(ms: number): void {
    this.set(new Date(this.#ms + ms));
  }
}
