// Packet buffers shared between threads: single-producer/single-consumer rings of fixed slots in a
// SharedArrayBuffer (reader Worker -> engine Worker), and the doorbell the engine sleeps on.
// Nothing is copied between threads and nothing is allocated per packet.

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
const PRODUCER_WAITING = 4;

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
    return Atomics.load(this.control, HEAD);
  }
  /** Slots the producer may fill now. */
  free(): number {
    return this.slotCount - ((this.head() - Atomics.load(this.control, TAIL)) | 0);
  }
  /** Makes `count` filled slots visible to the consumer. */
  publish(count: number): void {
    Atomics.store(this.control, HEAD, (this.head() + count) | 0);
  }
  /** Blocks (Workers only) until the consumer frees a slot or `timeoutMs` passes. */
  waitForSpace(timeoutMs: number): void {
    const tail = Atomics.load(this.control, TAIL);
    Atomics.store(this.control, PRODUCER_WAITING, 1);
    if (this.free() === 0) Atomics.wait(this.control, TAIL, tail, timeoutMs);
    Atomics.store(this.control, PRODUCER_WAITING, 0);
  }

  // Consumer side.
  tail(): number {
    return Atomics.load(this.control, TAIL);
  }
  /** Filled slots waiting for the consumer. */
  available(): number {
    return (Atomics.load(this.control, HEAD) - Atomics.load(this.control, TAIL)) | 0;
  }
  /** Gives `count` consumed slots back to the producer. */
  release(count: number): void {
    Atomics.store(this.control, TAIL, (Atomics.load(this.control, TAIL) + count) | 0);
    if (Atomics.load(this.control, PRODUCER_WAITING) !== 0) Atomics.notify(this.control, TAIL);
  }
}

const BELL_COUNT = 0;
const BELL_SLEEPING = 1;

/** What the engine sleeps on: producers ring it after publishing, the engine waits for a change. */
export class Doorbell {
  readonly cells: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(16)) {
    this.cells = new Int32Array(buffer);
  }

  /** Producer: after publishing, wakes the engine if it sleeps. */
  ring(): void {
    Atomics.add(this.cells, BELL_COUNT, 1);
    if (Atomics.load(this.cells, BELL_SLEEPING) !== 0) Atomics.notify(this.cells, BELL_COUNT);
  }

  /** Consumer: the count to pass to {@linkcode sleep}, read before checking the rings. */
  arm(): number {
    const seen = Atomics.load(this.cells, BELL_COUNT);
    Atomics.store(this.cells, BELL_SLEEPING, 1);
    return seen;
  }

  /** Consumer: resolves when rung after `seen` was read, or after `timeoutMs`. */
  async sleep(seen: number, timeoutMs: number): Promise<void> {
    const result = Atomics.waitAsync(this.cells, BELL_COUNT, seen, timeoutMs);
    if (result.async) await result.value;
    Atomics.store(this.cells, BELL_SLEEPING, 0);
  }

  /** Consumer: not sleeping after all (work was found after arming). */
  disarm(): void {
    Atomics.store(this.cells, BELL_SLEEPING, 0);
  }
}
