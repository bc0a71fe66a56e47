/** Build slots (Nova's max_concurrent_builds), kept where builds run. */

/** A counting semaphore: at most `limit` holders at once (0: unlimited), first come first served. */
export class Slots {
  readonly #limit: number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Resolves with a release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.#limit > 0 && this.#held >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#held++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so #held stays the same.
      if (next === undefined) this.#held--;
      else next();
    };
  }
}
