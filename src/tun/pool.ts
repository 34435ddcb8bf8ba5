// Packet buffers: rings of fixed slots in a SharedArrayBuffer, filled by the engine's descriptor
// reads (fd_source.ts: read() and recvmmsg straight into the slots) and drained by the engine.
// The main thread creates them; nothing is allocated per packet. One thread fills and drains a
// ring (the engine reads its descriptors itself), so head and tail are plain reads and writes:
// an Atomics call is a builtin call and a fence, about 10 ns each even when warm.

/** The largest packet a TUN (MTU up to 65535) or a UDP socket hands over, rounded to a cache line. */
export const PACKET_BYTES_MAX = 65536;
/**
 * Bytes before a slot's data: length, control length, the sender's sockaddr (UDP rings), then
 * from byte 64 the datagram's pktinfo control message (udp_sticky.ts).
 */
export const SLOT_HEADER_BYTES = 128;
/** Offset of the sockaddr inside a slot header. */
export const SLOT_SOCKADDR_OFFSET = 8;
/** Size of one `struct mmsghdr` on LP64 Linux. */
export const MMSGHDR_BYTES = 64;
/** Size of one `struct iovec` on LP64 Linux. */
export const IOVEC_BYTES = 16;

const CONTROL_BYTES = 64;
const HEAD = 0; // slots produced so far (wrapping int32)
const TAIL = 1; // slots consumed so far (wrapping int32)
const SLOT_COUNT = 2;
const DATA_BYTES = 3;

/**
 * A ring of `slotCount` packet slots of `dataBytes` each. The producer writes into
 * `slotData(head)` and publishes; the consumer reads `slotData(tail)` and releases.
 * The same SharedArrayBuffer holds an mmsghdr/iovec table per slot so a UDP reader can
 * receive a batch with one recvmmsg straight into the slots.
 */
export class PacketRing {
  readonly control: Int32Array;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly slotCount: number;
  readonly dataBytes: number;
  readonly slotBytes: number;
  /** Offset of the mmsghdr table. */
  readonly mmsgOffset: number;
  /** Offset of the iovec table. */
  readonly iovecOffset: number;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.slotCount = this.control[SLOT_COUNT];
    this.dataBytes = this.control[DATA_BYTES];
    this.slotBytes = SLOT_HEADER_BYTES + this.dataBytes;
    this.mmsgOffset = CONTROL_BYTES + this.slotCount * this.slotBytes;
    this.iovecOffset = this.mmsgOffset + this.slotCount * MMSGHDR_BYTES;
  }

  /**
   * @param slotCount number of slots, a power of two
   * @param dataBytes capacity of a slot, a multiple of 64
   * @throws {RangeError} for sizes that are not so
   */
  static create(slotCount: number, dataBytes: number): PacketRing {
    if (slotCount < 2 || (slotCount & (slotCount - 1)) !== 0 || dataBytes % 64 !== 0) {
      throw new RangeError(
        `Cannot create a ring: ${slotCount} slots of ${dataBytes} bytes (powers of two, x64)`,
      );
    }
    const size = CONTROL_BYTES + slotCount * (SLOT_HEADER_BYTES + dataBytes) +
      slotCount * (MMSGHDR_BYTES + IOVEC_BYTES);
    const buffer = new SharedArrayBuffer(size);
    const control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    control[SLOT_COUNT] = slotCount;
    control[DATA_BYTES] = dataBytes;
    return new PacketRing(buffer);
  }

  /** The same ring seen from another thread. */
  static attach(buffer: SharedArrayBuffer): PacketRing {
    return new PacketRing(buffer);
  }

  /** Index (0…slotCount) of the slot numbered `sequence`. */
  index(sequence: number): number {
    return sequence & (this.slotCount - 1);
  }
  /** Offset of slot `index`'s header. */
  headerOffset(index: number): number {
    return CONTROL_BYTES + index * this.slotBytes;
  }
  /** Offset of slot `index`'s data. */
  dataOffset(index: number): number {
    return CONTROL_BYTES + index * this.slotBytes + SLOT_HEADER_BYTES;
  }
  /** Length stored in slot `index`'s header. */
  length(index: number): number {
    return this.view.getInt32(this.headerOffset(index), true);
  }
  setLength(index: number, length: number): void {
    this.view.setInt32(this.headerOffset(index), length, true);
  }

  // Producer side.
  head(): number {
    return this.control[HEAD];
  }
  /** Slots the producer may fill now. */
  free(): number {
    return this.slotCount - ((this.head() - this.control[TAIL]) | 0);
  }
  /** Makes `count` filled slots visible to the consumer. */
  publish(count: number): void {
    this.control[HEAD] = (this.control[HEAD] + count) | 0;
  }
  // Consumer side.
  tail(): number {
    return this.control[TAIL];
  }
  /** Filled slots waiting for the consumer. */
  available(): number {
    return (this.control[HEAD] - this.control[TAIL]) | 0;
  }
  /** Gives `count` consumed slots back to the producer. */
  release(count: number): void {
    this.control[TAIL] = (this.control[TAIL] + count) | 0;
  }

  /**
   * Starts an empty ring over at slot 0: sporadic packets then reuse the first, warm slots instead
   * of walking all of them, each cold in the cache and the TLB (and faulted in on first use).
   */
  rewindIfEmpty(): void {
    const control = this.control;
    if (control[HEAD] !== control[TAIL]) return;
    control[HEAD] = 0;
    control[TAIL] = 0;
  }
}
