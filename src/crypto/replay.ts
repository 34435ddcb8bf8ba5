// Receive side of transport data, after the header checks and before the AEAD: the sliding window
// that refuses replayed or too-old counters (whitepaper §5.4.6, RFC 6479 block design as in
// wireguard-go). Checked before decryption (cheap), marked after authentication (so forged
// packets cannot move the window).

const BITS_PER_BLOCK = 32;
const RING_BLOCKS = 256; // a power of two
/** Bits in the ring. */
export const REPLAY_RING_BITS = RING_BLOCKS * BITS_PER_BLOCK;
/**
 * How far behind the highest counter seen a counter may be and still be accepted. One block of
 * the ring is always being recycled, so the window is one block short of the ring (8160 bits).
 */
export const REPLAY_WINDOW_SIZE = REPLAY_RING_BITS - BITS_PER_BLOCK;

/** Sliding replay window over 64-bit counters held in numbers (exact up to 2^53). */
export class ReplayWindow {
  readonly #ring = new Uint32Array(RING_BLOCKS);
  #last = 0;

  /** Forgets every counter seen. */
  reset(): void {
    this.#ring.fill(0);
    this.#last = 0;
  }

  /**
   * Whether `counter` could be accepted now (not seen, not too old, below `limit`). Does not
   * change the window.
   */
  check(counter: number, limit: number): boolean {
    if (counter >= limit) return false;
    if (counter > this.#last) return true;
    if (this.#last - counter > REPLAY_WINDOW_SIZE) return false;
    const bit = counter % BITS_PER_BLOCK;
    const block = ((counter - bit) / BITS_PER_BLOCK) % RING_BLOCKS;
    return (this.#ring[block] & (1 << bit)) === 0;
  }

  /**
   * Marks `counter` as seen, sliding the window forward when it is the newest.
   *
   * @returns false when it was already seen, too old, or not below `limit`
   */
  accept(counter: number, limit: number): boolean {
    if (counter >= limit) return false;
    const bit = counter % BITS_PER_BLOCK;
    const blockIndex = (counter - bit) / BITS_PER_BLOCK;
    if (counter > this.#last) {
      const lastBit = this.#last % BITS_PER_BLOCK;
      const current = (this.#last - lastBit) / BITS_PER_BLOCK;
      // Clear the blocks the window slides over; a jump past the whole ring clears all of it.
      const blocks = Math.min(blockIndex - current, RING_BLOCKS);
      for (let i = 1; i <= blocks; i++) this.#ring[(current + i) % RING_BLOCKS] = 0;
      this.#last = counter;
    } else if (this.#last - counter > REPLAY_WINDOW_SIZE) {
      return false;
    }
    const block = blockIndex % RING_BLOCKS;
    const mask = 1 << bit;
    const old = this.#ring[block];
    if ((old & mask) !== 0) return false;
    this.#ring[block] = old | mask;
    return true;
  }
}
