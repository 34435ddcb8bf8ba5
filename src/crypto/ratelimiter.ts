// Handshake rate limiting under load, before any Diffie-Hellman: once a handshake message carries a
// valid mac2 (its sender proved it owns its address), a token bucket per source IP decides whether
// it is worth the DH work. Same rates as wireguard-go's ratelimiter: 20 per second, bursts of 5,
// buckets idle for a second forgotten. Pure: `now` is injected monotonic milliseconds.

/** Handshake messages one source IP may have processed per second under load. */
export const HANDSHAKES_PER_SECOND = 20;
/** How many of them may come at once. */
export const HANDSHAKE_BURST = 5;
/** A bucket not drawn from for longer than this is forgotten (it would be full anyway). */
export const RATE_LIMIT_FORGET_AFTER_MS = 1_000;

/** Tokens are milliseconds: one message costs the interval between two at the steady rate. */
const COST_MS = 1_000 / HANDSHAKES_PER_SECOND;
const MAX_TOKENS_MS = COST_MS * HANDSHAKE_BURST;

interface Bucket {
  /** When tokens were last counted. */
  lastMs: number;
  /** Tokens as of `lastMs`. */
  tokens: number;
}

/** A token bucket per source address. */
export class HandshakeRateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  #nextSweepMs = -Infinity;

  /** Buckets held (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Draws one message's worth of tokens from the bucket of `source`, creating a full one for a new
   * source. Sweeps idle buckets first when a sweep is due.
   *
   * @param source the sender's IP address as text (the port is not part of it)
   * @returns whether the message may be processed
   */
  allow(source: string, now: number): boolean {
    this.sweep(now);
    const bucket = this.#buckets.get(source);
    if (!bucket) {
      this.#buckets.set(source, { lastMs: now, tokens: MAX_TOKENS_MS - COST_MS });
      return true;
    }
    bucket.tokens = Math.min(MAX_TOKENS_MS, bucket.tokens + Math.max(0, now - bucket.lastMs));
    bucket.lastMs = now;
    // `>=` (wireguard-go: `>`, with nanoseconds always elapsing) so a burst at one instant is 5.
    if (bucket.tokens >= COST_MS) {
      bucket.tokens -= COST_MS;
      return true;
    }
    return false;
  }

  /** Forgets buckets idle for longer than RATE_LIMIT_FORGET_AFTER_MS; at most once a second. */
  sweep(now: number): void {
    if (now < this.#nextSweepMs) return;
    this.#nextSweepMs = now + RATE_LIMIT_FORGET_AFTER_MS;
    for (const [source, bucket] of this.#buckets) {
      if (now - bucket.lastMs > RATE_LIMIT_FORGET_AFTER_MS) this.#buckets.delete(source);
    }
  }
}
