// Large read buffers lent for the length of one bulk copy (an HTTP body) and then kept for the
// next one, so a connection between copies holds none: a thousand kept-alive connections cost
// their small head buffers, not a large buffer each, and bulk copies allocate nothing.

/** A free list of equal buffers: taken for one copy, given back when it ends. */
export class BufferPool {
  readonly #free: Uint8Array[] = [];
  #lent = 0;

  /**
   * @param size bytes per buffer
   * @param keep most free buffers kept for reuse (the rest are left to the collector)
   */
  constructor(readonly size: number, readonly keep: number) {}

  /** A buffer of `size` bytes, reused when one is free. Its old contents are not cleared. */
  take(): Uint8Array {
    this.#lent++;
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /**
   * A buffer as `take()` gives, but only while fewer than `keep` are out, else null (the caller
   * allocates its own): under a burst of a thousand writes at once the pool then never makes
   * more buffers than it keeps.
   */
  takeWithinKeep(): Uint8Array | null {
    return this.#lent < this.keep ? this.take() : null;
  }

  /** Returns a buffer taken from this pool; nothing may use it afterwards. */
  give(buffer: Uint8Array): void {
    // Clamped: a stray give (a buffer that was not taken) must not let more out later.
    if (this.#lent > 0) this.#lent--;
    if (buffer.length === this.size && this.#free.length < this.keep) this.#free.push(buffer);
  }

  /** Buffers taken and not yet given back. */
  get lent(): number {
    return this.#lent;
  }

  /** Free buffers held now. */
  get free(): number {
    return this.#free.length;
  }
}

/** The shared pool of 64 KiB copy buffers (at most 1 MiB kept free). */
export const copyBuffers: BufferPool = new BufferPool(64 * 1024, 16);

/**
 * The shared pool of 4 KiB buffers a head (with a small body) is encoded into for its one
 * write: a fresh array per request was a native allocation and a V8 object per answer. Small,
 * because under a thousand concurrent requests many writes are in flight at once, each holding
 * one (16 KiB buffers raised the agent's peak by about 5 MiB in tests/rules/http_bench.ts).
 */
export const headBuffers: BufferPool = new BufferPool(4 * 1024, 64);
