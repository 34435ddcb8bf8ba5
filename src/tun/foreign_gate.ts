// The bound on foreign datagrams: datagrams on the WireGuard socket that are not WireGuard messages
// (the hub's reachability test, later endpoint-discovery pings) cross from the engine to the main
// thread only through this gate, so a flood of them cannot starve the packet loop or grow the
// main thread's message queue. Pure: the clock comes in as an argument.

/** Longest foreign datagram passed on, and longest raw datagram sent: control messages only. */
export const FOREIGN_MAX_BYTES = 1280;
/** Foreign datagrams passed on at once after a quiet spell (the queue towards the main thread). */
export const FOREIGN_BURST = 64;
/** Foreign datagrams passed on per second, sustained. */
export const FOREIGN_PER_SECOND = 128;

/** A token bucket with a size cap: `admit` says whether one datagram may cross. */
export class ForeignGate {
  #tokens: number;
  #lastMs = -Infinity;
  /** Datagrams refused since the gate was made (too long or over the rate). */
  dropped = 0;

  constructor(
    readonly burst = FOREIGN_BURST,
    readonly perSecond = FOREIGN_PER_SECOND,
    readonly maxBytes = FOREIGN_MAX_BYTES,
  ) {
    this.#tokens = burst;
  }

  /** Takes a token for a datagram of `length` bytes at monotonic time `nowMs`, or refuses it. */
  admit(length: number, nowMs: number): boolean {
    if (length > this.maxBytes) {
      this.dropped++;
      return false;
    }
    if (nowMs > this.#lastMs) {
      const refill = this.#lastMs === -Infinity
        ? this.burst
        : ((nowMs - this.#lastMs) * this.perSecond) / 1000;
      this.#tokens = Math.min(this.burst, this.#tokens + refill);
      this.#lastMs = nowMs;
    }
    if (this.#tokens < 1) {
      this.dropped++;
      return false;
    }
    this.#tokens--;
    return true;
  }
}
