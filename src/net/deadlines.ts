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

/** One deadline's state: when it fires (Infinity while disarmed), and whether it is swept. */
interface Entry {
  expire: () => void;
  at: number;
  listed: boolean;
}

/**
 * Deadlines sharing one interval that runs only while one of them is armed. Arming and
 * disarming only set a time: a deadline joins the swept set when first armed and leaves it at
 * the first sweep that finds it disarmed, so a connection that disarms and re-arms for every
 * request does not touch the set (and its hash table) each time.
 */
export class DeadlineClock {
  readonly #entries = new Set<Entry>();
  #armed = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param tickMs how often armed deadlines are checked (the most a deadline fires late)
   * @param now the clock (a fake one in tests)
   */
  constructor(readonly tickMs = 1000, readonly now: () => number = Date.now) {}

  /** A deadline that calls `expire` when it passes while armed. */
  deadline(expire: () => void): Deadline {
    const entry: Entry = { expire, at: Infinity, listed: false };
    return {
      arm: (ms) => this.#arm(entry, this.now() + ms),
      disarm: () => this.#disarm(entry),
    };
  }

  /** Deadlines armed now. */
  get armed(): number {
    return this.#armed;
  }

  #arm(entry: Entry, at: number): void {
    if (entry.at === Infinity) this.#armed++;
    entry.at = at;
    if (!entry.listed) {
      entry.listed = true;
      this.#entries.add(entry);
    }
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.sweep(), this.tickMs);
      // An armed wait alone must not keep the process running.
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  #disarm(entry: Entry): void {
    if (entry.at === Infinity) return;
    entry.at = Infinity;
    // The last one disarmed: nothing is left to sweep, and no interval may outlive the waits.
    if (--this.#armed === 0) this.#stop();
  }

  #stop(): void {
    for (const entry of this.#entries) entry.listed = false;
    this.#entries.clear();
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Runs the expiry of every armed deadline that has passed (the interval calls this), and
   * lets go of the disarmed ones; the interval stops when none is left.
   */
  sweep(): void {
    const now = this.now();
    for (const entry of this.#entries) {
      if (entry.at > now && entry.at !== Infinity) continue;
      this.#entries.delete(entry);
      entry.listed = false;
      if (entry.at === Infinity) continue;
      entry.at = Infinity;
      this.#armed--;
      try {
        entry.expire();
      } catch {
        // One failing expiry must not keep the others from running.
      }
    }
    if (this.#armed === 0) this.#stop();
  }
}
