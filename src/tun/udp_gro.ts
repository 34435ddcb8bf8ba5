// UDP generic receive offload: with UDP_GRO on a socket, the kernel may hand over several
// datagrams of one sender in a single read, back to back, all of one size but a shorter last one,
// and says that size in a UDP_GRO control message. Between two burrow devices the sender's UDP
// GSO batches (udp_gso.ts) arrive this way, so one recvmsg takes up to 64 datagrams.
//
// The reader owns one 64 KB buffer per socket (a coalesced read needs room for the whole; the
// ring's slots stay at their size, so idle memory does not grow). It cuts what came into ring
// slots, each with the sender's sockaddr and the same control messages (the IP_PKTINFO source of
// udp_sticky.ts), exactly as recvmmsg would have left the datagrams one by one.

import { libc, MSG_DONTWAIT, MSG_TRUNC, SOL_UDP, UDP_GRO } from "./libc.ts";
import { SOCKADDR_IN6_SIZE } from "./udp.ts";
import { addressOf, copyBytes, getUint64, setUint64 } from "./bytes.ts";

/** The most one read can return: one UDP datagram's payload (IPv4 room, the larger). */
export const GRO_BYTES_MAX = 65535;
const CMSG_HEADER_BYTES = 16;
const MSGHDR_BYTES = 56;

/**
 * Asks the kernel to coalesce datagrams on `fd` (UDP_GRO).
 *
 * @returns whether the kernel accepted (an old kernel refuses it)
 */
export function enableUdpGro(fd: number): boolean {
  const one = new Uint8Array([1, 0, 0, 0]);
  return libc().setsockopt(fd, SOL_UDP, UDP_GRO, one, 4) === 0;
}

/** One socket's coalesced reads and the datagrams still to hand out of the last one. */
export class GroReader {
  readonly buffer = new Uint8Array(GRO_BYTES_MAX);
  /** The sender of what is in the buffer (a sockaddr_in or sockaddr_in6). */
  readonly name = new Uint8Array(SOCKADDR_IN6_SIZE);
  /** The control messages of the last read (pktinfo, UDP_GRO). */
  readonly control: Uint8Array;
  controlLength = 0;
  readonly #header = new Uint8Array(MSGHDR_BYTES);
  readonly #headerView = new DataView(this.#header.buffer);
  readonly #iovec = new Uint8Array(16);
  readonly #controlView: DataView;
  /** Bytes read, and where the next datagram starts. */
  #length = 0;
  #offset = 0;
  #segmentSize = 0;

  constructor(controlBytes: number) {
    this.control = new Uint8Array(controlBytes);
    this.#controlView = new DataView(this.control.buffer);
    const iovec = new DataView(this.#iovec.buffer);
    setUint64(iovec, 0, addressOf(this.buffer));
    setUint64(iovec, 8, this.buffer.length);
    setUint64(this.#headerView, 0, addressOf(this.name));
    setUint64(this.#headerView, 16, addressOf(this.#iovec));
    setUint64(this.#headerView, 24, 1);
    setUint64(this.#headerView, 32, addressOf(this.control));
  }

  /** Whether datagrams of the last read are still to be handed out. */
  get pending(): boolean {
    return this.#offset < this.#length;
  }

  /**
   * One recvmsg into the buffer.
   *
   * @returns bytes read (0 for an empty datagram), or -1 with errno set (EAGAIN: nothing waiting)
   */
  read(fd: number): number {
    this.#headerView.setUint32(8, SOCKADDR_IN6_SIZE, true);
    setUint64(this.#headerView, 40, this.control.length);
    this.#headerView.setInt32(48, 0, true);
    const length = libc().recvmsg(fd, this.#header, MSG_DONTWAIT);
    if (length < 0) return -1;
    this.controlLength = getUint64(this.#headerView, 40);
    // Cannot happen with a 64 KB buffer; if it did, the datagrams are lost, not misread.
    if ((this.#headerView.getInt32(48, true) & MSG_TRUNC) !== 0) return this.#set(0, 0);
    return this.#set(length, this.#groSize() || length);
  }

  #set(length: number, segmentSize: number): number {
    this.#length = length;
    this.#offset = 0;
    this.#segmentSize = segmentSize;
    return length;
  }

  /** The UDP_GRO control message's segment size, 0 when the read holds one datagram. */
  #groSize(): number {
    const view = this.#controlView;
    for (let at = 0; at + CMSG_HEADER_BYTES <= this.controlLength;) {
      const cmsgLength = getUint64(view, at);
      if (cmsgLength < CMSG_HEADER_BYTES) return 0;
      if (
        view.getInt32(at + 8, true) === SOL_UDP && view.getInt32(at + 12, true) === UDP_GRO &&
        cmsgLength >= CMSG_HEADER_BYTES + 2
      ) {
        // The kernel writes an int; older ones a u16. The low 16 bits hold it either way.
        return view.getUint16(at + CMSG_HEADER_BYTES, true);
      }
      at += (cmsgLength + 7) & ~7;
    }
    return 0;
  }

  /**
   * Copies the next datagram into `into` (at most `room` bytes).
   *
   * @returns its length, or -1 when it does not fit (it is skipped)
   */
  next(into: Uint8Array, room: number): number {
    const start = this.#offset;
    const length = Math.min(this.#segmentSize, this.#length - start);
    this.#offset = start + length;
    if (length > room) return -1;
    copyBytes(into, 0, this.buffer, start, length);
    return length;
  }
}
