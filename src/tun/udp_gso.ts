// UDP generic segmentation offload on the send side: sealed datagrams for one destination that
// follow each other with the same size (the segments of one TCP super-packet, tso_split.ts) are
// gathered in one buffer and go out with a single sendmsg carrying a UDP_SEGMENT control message.
// The kernel cuts them apart again further down its stack, so one trip through the socket, the
// routing and the filters serves up to 64 datagrams.
//
// A batch takes datagrams of one destination; all but the last must have the first one's size.
// Anything that does not fit ends the batch first, so datagrams leave in the order they were sealed.

import type { Endpoint } from "../crypto/mod.ts";

/** The kernel's UDP_MAX_SEGMENTS on older kernels; newer ones allow more. */
export const GSO_SEGMENTS_MAX = 64;
/** The room of one batch: what one UDP datagram (IPv6 included) may carry in total. */
export const GSO_BYTES_MAX = 65535 - 8 - 40;

/** Datagrams waiting to leave together. */
export class GsoBatch {
  readonly buffer = new Uint8Array(GSO_BYTES_MAX);
  /** The destination, null while the batch is empty. */
  to: Endpoint | null = null;
  length = 0;
  count = 0;
  segmentSize = 0;
  /** A shorter datagram came: it was the last one this batch takes. */
  #closed = false;

  /** Whether `length` more bytes to `to` may join. */
  accepts(to: Endpoint, length: number): boolean {
    if (this.count === 0) return true;
    return !this.#closed && to === this.to && length <= this.segmentSize &&
      this.count < GSO_SEGMENTS_MAX && this.length + length <= GSO_BYTES_MAX;
  }

  /** Appends `data[0…length)` (call {@linkcode accepts} first). */
  append(to: Endpoint, data: Uint8Array, length: number): void {
    if (this.count === 0) {
      this.to = to;
      this.segmentSize = length;
      this.#closed = false;
    } else if (length < this.segmentSize) {
      this.#closed = true;
    }
    this.buffer.set(data.subarray(0, length), this.length);
    this.length += length;
    this.count++;
  }

  /** Empties the batch (after it was sent). */
  clear(): void {
    this.to = null;
    this.length = 0;
    this.count = 0;
    this.segmentSize = 0;
    this.#closed = false;
  }
}
