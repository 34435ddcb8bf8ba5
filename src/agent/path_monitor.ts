// Whether a peer's direct path works, and which path its traffic should take (docs/
// private-resources.md, "Direct paths"). Pure: time comes in as arguments, probes go out and
// answers come back through the caller (reachability tests sent from the WireGuard socket).
//
//   1. a quick test when the peer is set up: 5 probes 400 ms apart
//   2. then a monitor: a probe every 2 s, the interval doubling (to 15 s) while they succeed and
//      back to 2 s after a miss; a probe unanswered within 2 s is a miss
//   3. relayed -> direct after 2 answers in a row, and not sooner than 10 s after the last move
//      to the relay; direct -> relayed after 3 misses in a row (within 30 s at most)
//   4. a path that never answered (8 misses, none answered) probes in turns instead: one probe
//      per 40 s round of the wall clock, the client at the round's start in even rounds and the
//      site 2 s later, the other way round in odd rounds; the other agent reaching this one
//      directly (`peerReachedUs`) starts the quick test again
// The asymmetry of 3 is the hysteresis: a path that comes and goes does not flap the route.
//
// Why turns: a NAT router that takes unsolicited UDP for itself (no input firewall, e.g. a
// plain Linux masquerade) keeps the first probe that reaches it before its own host sent
// anything as a connection of its own; its host's later packets toward that peer then cannot
// keep their port and leave from another one, which the peer never hears of. Both sides probing
// every 2 s keep that stale entry alive for ever. Rounds longer than a NAT's timeout for
// unanswered UDP (30 s on Linux) let it expire, and one side probing first (its probe dropped
// or kept by the other's router, but its own mapping made) lets the other's probe through,
// when the router of the side going first is the one without the firewall. The turns alternate
// because an agent cannot know which side that is. Both routers without a firewall and nothing
// in between that drops the first probe: no order works, and the path stays relayed.

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
  /** Misses of a path that never answered before probing in turns. */
  missesBeforeTurns: number;
  /** A turn's round (longer than a NAT's timeout of unanswered UDP). */
  turnRoundMs: number;
  /** How long after the round's start the second side probes. */
  turnOffsetMs: number;
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
  missesBeforeTurns: 8,
  turnRoundMs: 40_000,
  turnOffsetMs: 2000,
};

/** Which side of a path this monitor is on: the client goes first in even rounds. */
export type PathSide = "client" | "site";

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
  #everAnswered = false;
  readonly #side: PathSide;

  constructor(now: number, options: Partial<PathMonitorOptions> = {}, side: PathSide = "client") {
    this.#options = { ...PATH_DEFAULTS, ...options };
    this.#side = side;
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

  /** Whether the path never answered and is probed in turns (see the top of this file). */
  get inTurns(): boolean {
    return !this.#everAnswered && this.#route === "relay" &&
      this.#misses >= this.#options.missesBeforeTurns;
  }

  /**
   * The other agent's probe reached this one over the direct path: a path probed in turns may
   * be open now, so the quick test starts again.
   */
  peerReachedUs(now: number): void {
    if (this.inTurns) this.restart(now);
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
      this.#nextAt = this.inTurns
        ? this.#nextTurn(now)
        : Math.min(this.#nextAt, now + this.#options.intervalMinMs);
    }
    const change = this.#decide(now);
    if (now < this.#nextAt) return { probe: null, change };
    const id = this.#nextId++;
    this.#outstanding.set(id, now);
    if (this.inTurns) {
      this.#nextAt = this.#nextTurn(now);
    } else if (this.#rapidLeft > 0) {
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
    this.#everAnswered = true;
    this.#lastOk = true;
    this.#lastAnswerAt = now;
    if (this.#rapidLeft === 0) {
      this.#interval = Math.min(this.#interval * 2, this.#options.intervalMaxMs);
    }
    return this.#decide(now);
  }

  /**
   * This side's next turn after `now`: its slot in a round. Both sides probe in every round, so
   * what a round leaves in the routers (gone after 30 s) is gone before the round after it,
   * whose order is the other one.
   */
  #nextTurn(now: number): number {
    const { turnRoundMs, turnOffsetMs } = this.#options;
    for (let round = Math.floor(now / turnRoundMs);; round++) {
      const clientFirst = round % 2 === 0;
      const first = clientFirst === (this.#side === "client");
      const slot = round * turnRoundMs + (first ? 0 : turnOffsetMs);
      if (slot > now) return slot;
    }
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
