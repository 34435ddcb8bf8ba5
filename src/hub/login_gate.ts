// The queue in front of the slow hash: a login that needs scrypt (a first login, a failed or
// missing resumption) waits here for one of a few workers (one per core). Waiting logins are
// served round-robin across source addresses, so one address cannot starve the others; an
// address with too many logins in flight, or a queue already longer than the workers can drain
// soon, is refused at once with how long to wait (the hub answers 429 with Retry-After).

/** A refusal: try again in `retryAfterS` seconds. */
export class LoginBusy extends Error {
  override name = "LoginBusy";
  constructor(readonly retryAfterS: number, message: string) {
    super(message);
  }
}

export interface LoginGateOptions {
  /** Hashes run at once. @default the number of cores */
  workers?: number;
  /** Logins queued (not yet running) at most, over all addresses. @default 64 */
  maxQueued?: number;
  /** Logins queued or running from one source address at most. @default 4 */
  perAddress?: number;
  /** First guess of one hash's duration, refined as hashes complete. @default 100 */
  costMs?: number;
}

interface Job {
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * The source address a limit counts against: an IPv4 address, or an IPv6 /64 (one
 * subscriber's prefix, which a single host can rotate through freely).
 */
export function addressKey(hostname: string): string {
  const bare = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (!bare.includes(":")) return bare;
  if (bare.startsWith("::ffff:") && bare.includes(".")) return bare.slice(7);
  const [head, tail = ""] = bare.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = bare.includes("::")
    ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right]
    : left;
  return groups.slice(0, 4).map((g) => g.padStart(4, "0")).join(":") + "::/64";
}

export class LoginGate {
  readonly #workers: number;
  readonly #maxQueued: number;
  readonly #perAddress: number;
  #costMs: number;
  #running = 0;
  #queued = 0;
  /** Jobs waiting, per address; `#turns` is the round-robin order of addresses with jobs. */
  readonly #waiting = new Map<string, Job[]>();
  #turns: string[] = [];
  /** Logins queued or running, per address. */
  readonly #inFlight = new Map<string, number>();

  constructor(options: LoginGateOptions = {}) {
    this.#workers = Math.max(1, options.workers ?? (navigator.hardwareConcurrency || 2));
    this.#maxQueued = options.maxQueued ?? 64;
    this.#perAddress = options.perAddress ?? 4;
    this.#costMs = options.costMs ?? 100;
  }

  /** Logins waiting for a worker (for tests and metrics). */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Runs `job` (the slow hash) when its turn comes.
   *
   * @throws {LoginBusy} at once when the address or the queue is over its limit
   */
  run<T>(address: string, job: () => Promise<T>): Promise<T> {
    const key = addressKey(address);
    const mine = this.#inFlight.get(key) ?? 0;
    if (mine >= this.#perAddress) {
      return Promise.reject(
        new LoginBusy(this.#retryAfterS(), "too many logins from your address at once"),
      );
    }
    if (this.#running >= this.#workers && this.#queued >= this.#maxQueued) {
      return Promise.reject(new LoginBusy(this.#retryAfterS(), "the hub is busy with logins"));
    }
    this.#inFlight.set(key, mine + 1);
    const result = new Promise<T>((resolve, reject) => {
      const entry: Job = { run: job, resolve: resolve as (v: unknown) => void, reject };
      const list = this.#waiting.get(key);
      if (list) list.push(entry);
      else {
        this.#waiting.set(key, [entry]);
        this.#turns.push(key);
      }
      this.#queued++;
    });
    this.#pump();
    return result.finally(() => {
      const left = (this.#inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(key, left);
      else this.#inFlight.delete(key);
    });
  }

  /**
   * Seconds to wait: half the time the queue ahead takes to drain at the measured cost per
   * hash (at least 1). Clients come back (with their jitter) while the queue still has work,
   * so the workers never idle waiting for them; an early return costs only a cheap 429.
   */
  #retryAfterS(): number {
    const rounds = (this.#queued + this.#running) / this.#workers + 1;
    return Math.max(1, Math.ceil((rounds * this.#costMs) / 2000));
  }

  #pump(): void {
    while (this.#running < this.#workers && this.#turns.length) {
      // 1. The next address in turn gives up its oldest job; it goes to the back if it has more.
      const key = this.#turns.shift()!;
      const list = this.#waiting.get(key)!;
      const job = list.shift()!;
      if (list.length) this.#turns.push(key);
      else this.#waiting.delete(key);
      this.#queued--;
      // 2. Run it; its time refines the cost estimate behind Retry-After.
      this.#running++;
      const started = performance.now();
      job.run().then(job.resolve, job.reject).finally(() => {
        this.#costMs = this.#costMs * 0.8 + (performance.now() - started) * 0.2;
        this.#running--;
        this.#pump();
      });
    }
  }
}
