// Whether a peer's direct path works, and which path its traffic should take (docs/
// private-resources.md, "Direct paths"). Pure: time comes in as arguments, probes go out and
// answers come back through the caller (reachability tests sent from the WireGuard socket).
//
//   1. a quick test when the peer is set up: 5 probes 400 ms apart
//   2. then a monitor: a probe every 2 s, the interval doubling (to 15 s) while they succeed and
//      back to 2 s after a miss; a probe unanswered within 2 s is a miss
//   3. relayed -> direct after 2 answers in a row, and not sooner than 10 s after the last move
//      to the relay; direct -> relayed after 3 misses in a row (within 30 s at most)
// The asymmetry is the hysteresis: a path that comes and goes does not flap the route.

export type PathRoute = "relay" | "direct";

export interface PathMonitorOptions {
  rapidProbes: number;
  rapidIntervalMs: number;
  intervalMinMs: number;
  intervalMaxMs: number;
  timeoutMs: number;
  missesToRelay: number;
  answersToDirect: number;
  /** The least time spent relayed before going direct again. */
  relayDwellMs: number;
}

export const PATH_DEFAULTS: PathMonitorOptions = {
  rapidProbes: 5,
  rapidIntervalMs: 400,
  intervalMinMs: 2000,
  intervalMaxMs: 15_000,
  timeoutMs: 2000,
  missesToRelay: 3,
  answersToDirect: 2,
  relayDwellMs: 10_000,
};

export class PathMonitor {
  readonly #options: PathMonitorOptions;
  #route: PathRoute = "relay";
  #relaySince = -Infinity;
  #rapidLeft: number;
  #interval: number;
  #nextAt: number;
  #nextId = 1;
  readonly #outstanding = new Map<number, number>();
  #answers = 0;
  #misses = 0;
  #lastOk = false;
  #lastAnswerAt: number | null = null;

  constructor(now: number, options: Partial<PathMonitorOptions> = {}) {
    this.#options = { ...PATH_DEFAULTS, ...options };
    this.#rapidLeft = this.#options.rapidProbes;
    this.#interval = this.#options.intervalMinMs;
    this.#nextAt = now;
  }

  /** The path the peer's traffic should take now. */
  get route(): PathRoute {
    return this.#route;
  }

  /** Whether the last finished test of the direct path succeeded. */
  get lastTestOk(): boolean {
    return this.#lastOk;
  }

  /** Wall-clock ms of the last answered probe, or null. */
  get lastAnswerAt(): number | null {
    return this.#lastAnswerAt;
  }

  /** When the next probe is due (ms). */
  get nextProbeAt(): number {
    return this.#nextAt;
  }

  /** The direct endpoint changed (a new mapping): test again quickly, route unchanged. */
  restart(now: number): void {
    this.#outstanding.clear();
    this.#rapidLeft = this.#options.rapidProbes;
    this.#interval = this.#options.intervalMinMs;
    this.#nextAt = now;
    this.#answers = 0;
    this.#misses = 0;
  }

  /** Gives up the direct path at once (e.g. hole punching turned off): relayed. */
  forceRelay(now: number): PathRoute | null {
    if (this.#route === "relay") return null;
    this.#route = "relay";
    this.#relaySince = now;
    return this.#route;
  }

  /**
   * Times out probes, then says whether one is due now.
   *
   * @returns a probe id to send (null when none is due) and a route change (null when none)
   */
  poll(now: number): { probe: number | null; change: PathRoute | null } {
    for (const [id, sentAt] of this.#outstanding) {
      if (now - sentAt < this.#options.timeoutMs) continue;
      this.#outstanding.delete(id);
      this.#misses++;
      this.#answers = 0;
      this.#lastOk = false;
      this.#interval = this.#options.intervalMinMs;
      // After a miss the next probe comes soon, so a dead path is found within 30 s.
      this.#nextAt = Math.min(this.#nextAt, now + this.#options.intervalMinMs);
    }
    const change = this.#decide(now);
    if (now < this.#nextAt) return { probe: null, change };
    const id = this.#nextId++;
    this.#outstanding.set(id, now);
    if (this.#rapidLeft > 0) {
      this.#rapidLeft--;
      this.#nextAt = now + this.#options.rapidIntervalMs;
    } else {
      this.#nextAt = now + this.#interval;
    }
    return { probe: id, change };
  }

  /** A probe came back. @returns a route change, or null */
  answered(id: number, now: number): PathRoute | null {
    if (!this.#outstanding.delete(id)) return null;
    this.#answers++;
    this.#misses = 0;
    this.#lastOk = true;
    this.#lastAnswerAt = now;
    if (this.#rapidLeft === 0) {
      this.#interval = Math.min(this.#interval * 2, this.#options.intervalMaxMs);
    }
    return this.#decide(now);
  }

  #decide(now: number): PathRoute | null {
    if (this.#route === "direct" && this.#misses >= this.#options.missesToRelay) {
      this.#route = "relay";
      this.#relaySince = now;
      return "relay";
    }
    if (
      this.#route === "relay" && this.#answers >= this.#options.answersToDirect &&
      now - this.#relaySince >= this.#options.relayDwellMs
    ) {
      this.#route = "direct";
      return "direct";
    }
    return null;
  }
}
