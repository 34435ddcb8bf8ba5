// The handshake queue of the packet loop, and the load it signals (as wireguard-go's
// device.queue.handshake). Handshake messages (initiations, responses, cookie replies) do not run
// as they arrive: the engine copies them into this bounded queue and works through a few per
// round, after the transport data of that round. So data keeps flowing while handshakes wait,
// and a flood shows as depth: once the queue holds more than an eighth of its capacity the device
// is under load (initiations need a cookie, mac2, before any Diffie-Hellman) and stays so for a
// second after the depth was last seen that high, and for as long as handshake messages keep
// arriving at that many per second: under load they are cheap and the queue empties fast, which
// must not end the defence while the flood goes on. Junk mixed into a flood cannot hide it: only
// well-formed handshake messages count, whatever else shares their receive batches.

import type { Endpoint } from "../crypto/mod.ts";

/** Messages the queue holds (wireguard-go's QueueHandshakeSize). Beyond it they are dropped. */
export const HANDSHAKE_QUEUE_CAPACITY = 1024;
/** From this depth on the device is under load (wireguard-go: an eighth of the capacity). */
export const UNDER_LOAD_DEPTH = HANDSHAKE_QUEUE_CAPACITY / 8;
/** How long the device stays under load after the depth was last at UNDER_LOAD_DEPTH. */
export const UNDER_LOAD_HOLD_MS = 1000;
/** The largest handshake message (an initiation). */
const SLOT_BYTES = 148;

/** A bounded FIFO of handshake messages, copied into memory allocated once. */
export class HandshakeQueue {
  readonly #bytes = new Uint8Array(HANDSHAKE_QUEUE_CAPACITY * SLOT_BYTES);
  readonly #lengths = new Uint16Array(HANDSHAKE_QUEUE_CAPACITY);
  readonly #senders: (Endpoint | null)[] = new Array(HANDSHAKE_QUEUE_CAPACITY).fill(null);
  #head = 0;
  #depth = 0;
  #underLoadUntil = -Infinity;
  /** Start of the current one-second window and the messages pushed in it. */
  #windowStart = -Infinity;
  #arrivals = 0;
  readonly #taken: { message: Uint8Array; from: Endpoint } = {
    message: new Uint8Array(0),
    from: { address: "", port: 0 },
  };
  /** Messages dropped because the queue was full. */
  dropped = 0;

  /** Messages waiting. */
  get depth(): number {
    return this.#depth;
  }

  /**
   * Copies `message` (at most 148 bytes) to the back of the queue.
   *
   * @returns false (and the message is dropped) when the queue is full or the message too long
   */
  push(message: Uint8Array, from: Endpoint): boolean {
    if (this.#depth === HANDSHAKE_QUEUE_CAPACITY || message.length > SLOT_BYTES) {
      this.dropped++;
      return false;
    }
    const slot = (this.#head + this.#depth) % HANDSHAKE_QUEUE_CAPACITY;
    this.#bytes.set(message, slot * SLOT_BYTES);
    this.#lengths[slot] = message.length;
    this.#senders[slot] = from;
    this.#depth++;
    this.#arrivals++;
    return true;
  }

  /**
   * Whether the device is under load now, judged by the depth before the next message is taken:
   * at UNDER_LOAD_DEPTH or more, or within UNDER_LOAD_HOLD_MS of when it last was; while under
   * load at some point of a window of UNDER_LOAD_HOLD_MS, UNDER_LOAD_DEPTH arrivals or more in it
   * extend it.
   */
  underLoad(now: number): boolean {
    if (this.#depth >= UNDER_LOAD_DEPTH) this.#underLoadUntil = now + UNDER_LOAD_HOLD_MS;
    if (now - this.#windowStart >= UNDER_LOAD_HOLD_MS) {
      if (this.#underLoadUntil > this.#windowStart && this.#arrivals >= UNDER_LOAD_DEPTH) {
        this.#underLoadUntil = now + UNDER_LOAD_HOLD_MS;
      }
      this.#windowStart = now;
      this.#arrivals = 0;
    }
    return now < this.#underLoadUntil;
  }

  /**
   * Takes the oldest message. Its bytes stay valid until the next push.
   *
   * @returns the message and its sender (one reused object), or null when the queue is empty
   */
  shift(): { message: Uint8Array; from: Endpoint } | null {
    if (this.#depth === 0) return null;
    const slot = this.#head;
    const taken = this.#taken;
    taken.from = this.#senders[slot]!;
    this.#senders[slot] = null;
    this.#head = (slot + 1) % HANDSHAKE_QUEUE_CAPACITY;
    this.#depth--;
    const start = slot * SLOT_BYTES;
    taken.message = this.#bytes.subarray(start, start + this.#lengths[slot]);
    return taken;
  }
}
