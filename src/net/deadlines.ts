// Deadlines for the waits every request repeats (the next request head on a kept-alive
// connection): one shared interval checks them, so arming and disarming one per request costs
// a set insertion, not a timer of its own (timers were a visible share of the agent's CPU and
// garbage at thousands of requests per second). The price is resolution: a deadline fires up
// to one tick late, which is fine for waits of many seconds.

/** One connection's deadline, armed before a wait and disarmed after it. */
export interface Deadline {
  /** Starts (or restarts) the countdown: `expire` runs once `ms` have passed unless disarmed. */
  arm(ms: number): void;
  disarm(): void;
}

/** Deadlines sharing one interval that runs only while one of them is armed. */
export class DeadlineClock {
  readonly #armed = new Map<() => void, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param tickMs how often armed deadlines are checked (the most a deadline fires late)
   * @param now the clock (a fake one in tests)
   */
  constructor(readonly tickMs = 1000, readonly now: () => number = Date.now) {}

  /** A deadline that calls `expire` when it passes while armed. */
  deadline(expire: () => void): Deadline {
    return {
      arm: (ms) => this.#arm(expire, this.now() + ms),
      disarm: () => this.#disarm(expire),
    };
  }

  /** Deadlines armed now. */
  get armed(): number {
    return this.#armed.size;
  }

  #arm(expire: () => void, at: number): void {
    this.#armed.set(expire, at);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.sweep(), this.tickMs);
      // An armed wait alone must not keep the process running.
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  #disarm(expire: () => void): void {
    this.#armed.delete(expire);
    if (this.#armed.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Runs the expiry of every armed deadline that has passed (the interval calls this). */
  sweep(): void {
    const now = this.now();
    for (const [expire, at] of this.#armed) {
      if (at > now) continue;
      this.#disarm(expire);
      try {
        expire();
      } catch {
        // One failing expiry must not keep the others from running.
      }
    }
  }
}
