// The device's descriptors as the engine Worker reads them: the TUN (read() per packet) and the UDP
// sockets (recvmmsg batches straight into ring slots, with each datagram's sender sockaddr and
// pktinfo control message in the slot header), and one poll() over those found empty plus the
// wake eventfd the main thread writes after each message it posts. The engine reads them itself:
// no reader Worker (an isolate of about 7.5 MiB) and no thread hop per packet.

import { PacketRing, SLOT_SOCKADDR_OFFSET } from "./pool.ts";
import {
  EAGAIN,
  EFD_SEMAPHORE,
  EINTR,
  errno,
  libc,
  MSG_DONTWAIT,
  MSG_TRUNC,
  O_CLOEXEC,
  O_NONBLOCK,
  POLLIN,
  POLLNVAL,
  sizeArg,
  SyscallError,
} from "./libc.ts";
import { SOCKADDR_IN6_SIZE } from "./udp.ts";
import { addressOf, copyBytes, getUint64, setUint64 } from "./bytes.ts";
import { SuperPacketSplitter } from "./tso_split.ts";
import type { TunOffload } from "./tun_offload.ts";
import { enableUdpGro, GroReader } from "./udp_gro.ts";
import {
  SLOT_CONTROL_BYTES,
  SLOT_CONTROL_LENGTH_OFFSET,
  SLOT_CONTROL_OFFSET,
} from "./udp_sticky.ts";

/** Which descriptor a source reads. */
export type SourceKind = "tun" | "udp";

const MAX_BATCH = 64;
/** TUN packets read in a row before the sockets get a turn. */
const TUN_BATCH = 32;
const POLLFD_BYTES = 8;
const POLLERR_HUP_NVAL = 0x8 | 0x10 | POLLNVAL;

/** One descriptor and its ring, with what reading into the ring needs, built once. */
export class FdSource {
  readonly ring: PacketRing;
  /** The TUN: each slot's data area, for read(). */
  readonly slotViews: Uint8Array[] = [];
  /** What one read() may fill, as its size_t argument: a slot's data, or the splitter's buffer. */
  readonly slotSize: bigint;
  readonly splitterSize: bigint;
  /** UDP: one mmsghdr (and iovec) per slot, so recvmmsg writes straight into the slots. */
  readonly mmsgPointers: Deno.PointerObject[] = [];
  /** False once a read found nothing (EAGAIN), until poll() says the descriptor is readable. */
  ready = true;
  /**
   * poll() just said the descriptor is readable after it was found empty: this round reads once
   * (one packet, one super-packet, one coalesced UDP read), so the engine handles it before the
   * read that finds the descriptor empty again (a lone packet, a ping, waits for one syscall
   * less). Rounds after it, with packets still coming, read until EAGAIN or a full batch.
   */
  woke = false;
  /** A TUN with virtio_net_hdr: reads go through it and come out as plain packets. */
  readonly splitter: SuperPacketSplitter | null;
  /** A UDP socket with UDP_GRO: reads go through it and come out as single datagrams. */
  readonly gro: GroReader | null;

  /** @param udpGro ask for UDP_GRO on a UDP socket (without it when the kernel refuses) */
  constructor(
    readonly kind: SourceKind,
    readonly fd: number,
    buffer: SharedArrayBuffer,
    offload: TunOffload = "none",
    udpGro = false,
  ) {
    this.splitter = kind === "tun" && offload !== "none" ? new SuperPacketSplitter() : null;
    this.gro = kind === "udp" && udpGro && enableUdpGro(fd)
      ? new GroReader(SLOT_CONTROL_BYTES)
      : null;
    const ring = this.ring = PacketRing.attach(buffer);
    this.slotSize = sizeArg(ring.dataBytes);
    this.splitterSize = sizeArg(this.splitter?.buffer.length ?? 0);
    for (let i = 0; i < ring.slotCount; i++) {
      this.slotViews.push(
        ring.bytes.subarray(ring.dataOffset(i), ring.dataOffset(i) + ring.dataBytes),
      );
    }
    if (kind !== "udp") return;
    const base = addressOf(ring.bytes);
    const view = ring.view;
    for (let i = 0; i < ring.slotCount; i++) {
      const header = ring.mmsgOffset + i * 64;
      const iovec = ring.iovecOffset + i * 16;
      setUint64(view, header, base + ring.headerOffset(i) + SLOT_SOCKADDR_OFFSET);
      view.setUint32(header + 8, SOCKADDR_IN6_SIZE, true);
      setUint64(view, header + 16, base + iovec);
      setUint64(view, header + 24, 1);
      // The pktinfo control message (the local address contacted) lands in the slot header.
      setUint64(view, header + 32, base + ring.headerOffset(i) + SLOT_CONTROL_OFFSET);
      setUint64(view, header + 40, SLOT_CONTROL_BYTES);
      setUint64(view, iovec, base + ring.dataOffset(i));
      setUint64(view, iovec + 8, ring.dataBytes);
      this.mmsgPointers.push(Deno.UnsafePointer.create(BigInt(base + header))!);
    }
  }

  /**
   * Reads what is waiting into free slots and publishes it.
   *
   * @returns packets published, or -1 with errno set (EAGAIN: nothing waiting)
   */
  receive(): number {
    const c = libc();
    const ring = this.ring;
    const free = ring.free();
    const index = ring.index(ring.head());
    let received: number;
    if (this.splitter) {
      received = this.#receiveSplit();
      if (received <= 0) return received;
    } else if (this.gro) {
      received = this.#receiveGro();
      if (received <= 0) return received;
    } else if (this.kind === "tun") {
      // One packet per read(): up to TUN_BATCH of them before the other descriptors get a turn.
      received = 0;
      const head = ring.head();
      const most = Math.min(free, this.woke ? 1 : TUN_BATCH);
      this.woke = false;
      while (received < most) {
        const slot = ring.index(head + received);
        const length = c.read(this.fd, this.slotViews[slot], this.slotSize);
        if (length <= 0) {
          if (received > 0) {
            // What was read is published. Found empty: poll() is asked before the next read
            // (saves a read that would only say EAGAIN); another error comes back next time.
            if (length < 0 && errno() === EAGAIN) this.ready = false;
            break;
          }
          return length === 0 ? 0 : -1;
        }
        ring.setLength(slot, length);
        received++;
      }
    } else {
      const count = Math.min(free, ring.slotCount - index, MAX_BATCH);
      received = c.recvmmsg(this.fd, this.mmsgPointers[index], count, MSG_DONTWAIT, null);
      // Fewer than asked for: the socket is empty now, poll() is asked before the next read.
      if (received >= 0 && received < count) this.ready = false;
      for (let i = 0; i < received; i++) {
        const header = ring.mmsgOffset + (index + i) * 64;
        const truncated = (ring.view.getInt32(header + 48, true) & MSG_TRUNC) !== 0;
        // An oversized datagram is marked -1 and dropped by the engine.
        ring.setLength(index + i, truncated ? -1 : ring.view.getUint32(header + 56, true));
        ring.view.setUint32(header + 8, SOCKADDR_IN6_SIZE, true);
        ring.view.setInt32(header + 48, 0, true);
        const control = getUint64(ring.view, header + 40);
        ring.view.setInt32(
          ring.headerOffset(index + i) + SLOT_CONTROL_LENGTH_OFFSET,
          control,
          true,
        );
        setUint64(ring.view, header + 40, SLOT_CONTROL_BYTES);
      }
    }
    if (received > 0) ring.publish(received);
    return received;
  }

  /**
   * A vnet-header TUN: reads into the splitter's one 64 KB buffer and cuts what came into the
   * ring's slots, as many as are free; the rest waits in the splitter for the next round.
   */
  #receiveSplit(): number {
    const c = libc();
    const ring = this.ring;
    const splitter = this.splitter!;
    const head = ring.head();
    // A super-packet is up to ~45 segments: read as many as one drain takes (one GSO send).
    const most = Math.min(ring.free(), MAX_BATCH);
    let received = 0;
    let reads = 0;
    const readsMax = this.woke ? 1 : MAX_BATCH;
    this.woke = false;
    while (received < most) {
      if (!splitter.pending) {
        if (reads === readsMax) break;
        reads++;
        const length = c.read(this.fd, splitter.buffer, this.splitterSize);
        if (length <= 0) {
          if (received > 0) {
            // What was read is published. Found empty: poll() is asked before the next read
            // (saves a read that would only say EAGAIN); another error comes back next time.
            if (length < 0 && errno() === EAGAIN) this.ready = false;
            break;
          }
          return length === 0 ? 0 : -1;
        }
        if (!splitter.load(length)) continue;
      }
      const slot = ring.index(head + received);
      const length = splitter.next(this.slotViews[slot]);
      if (length === 0) continue;
      ring.setLength(slot, length);
      received++;
    }
    return received;
  }

  /**
   * A UDP socket with UDP_GRO: one recvmsg into the reader's 64 KB buffer returns one datagram or
   * several of one sender joined; they are cut into free slots, each with the sender's sockaddr
   * and the read's control messages. What does not fit waits in the reader for the next round.
   */
  #receiveGro(): number {
    const gro = this.gro!;
    const ring = this.ring;
    let failed = false;
    let received = 0;
    // Woken by poll(): one read, handed to the engine before the read that finds the socket empty.
    const readsMax = this.woke ? 1 : MAX_BATCH;
    this.woke = false;
    for (let reads = 0, head = ring.head(); received < Math.min(ring.free(), MAX_BATCH);) {
      if (!gro.pending) {
        if (reads++ === readsMax) break;
        failed = gro.read(this.fd) < 0;
        if (failed) break;
        continue; // an empty datagram leaves nothing pending
      }
      const slot = ring.index(head + received);
      const header = ring.headerOffset(slot);
      // An oversized datagram is marked -1 and dropped by the engine, as with recvmmsg.
      ring.setLength(slot, gro.next(this.slotViews[slot], ring.dataBytes));
      copyBytes(ring.bytes, header + SLOT_SOCKADDR_OFFSET, gro.name, 0, gro.name.length);
      copyBytes(
        ring.bytes,
        header + SLOT_CONTROL_OFFSET,
        gro.control,
        0,
        Math.min(gro.controlLength, gro.control.length),
      );
      ring.view.setInt32(header + SLOT_CONTROL_LENGTH_OFFSET, gro.controlLength, true);
      received++;
    }
    if (failed && received === 0) return -1;
    // What was read is published. Found empty: poll() is asked before the next read.
    if (failed && errno() === EAGAIN) this.ready = false;
    return received;
  }
}

/** A descriptor that broke, with its errno (EBADFD when the interface is gone). */
export interface SourceFailure {
  source: FdSource;
  errno: number;
}

/** The engine's descriptors: read rounds into their rings, and waiting for them or the wake fd. */
export class FdSources {
  sources: FdSource[] = [];
  #pollFds = new Uint8Array(POLLFD_BYTES * 4);
  #pollView = new DataView(this.#pollFds.buffer);
  readonly #polled: FdSource[] = [];
  /**
   * What the last {@linkcode read} or {@linkcode wait} found broken, else null. A field rather
   * than a returned object: the loop asks on every round, and allocates nothing for it.
   */
  failed: SourceFailure | null = null;

  /** @param wakeFd an eventfd the main thread writes after each message it posts (-1: none) */
  constructor(readonly wakeFd: number) {}

  /** Replaces the UDP sources (a new listen port), keeping the TUN. */
  replaceUdp(sources: FdSource[]): void {
    this.sources = [...this.sources.filter((source) => source.kind !== "udp"), ...sources];
  }

  remove(source: FdSource): void {
    const at = this.sources.indexOf(source);
    if (at >= 0) this.sources.splice(at, 1);
  }

  /**
   * Reads every descriptor not known to be empty into its ring while it has room.
   *
   * @returns packets published into the rings ({@linkcode failed} says what broke)
   */
  read(): number {
    this.failed = null;
    let published = 0;
    const sources = this.sources;
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i];
      if (!source.ready || source.ring.free() === 0) continue;
      const received = source.receive();
      if (received > 0) {
        published += received;
        continue;
      }
      if (received === 0) continue; // a TUN read of nothing: try again next round
      const code = errno();
      if (code === EAGAIN) source.ready = false;
      else if (code !== EINTR) {
        this.failed = { source, errno: code };
        return published;
      }
    }
    return published;
  }

  /** True when some descriptor was found empty and must be asked about with {@linkcode wait}. */
  anyEmpty(): boolean {
    const sources = this.sources;
    for (let i = 0; i < sources.length; i++) if (!sources[i].ready) return true;
    return false;
  }

  /** True when a reader holds data of an earlier read that is not in its ring yet. */
  anyBuffered(): boolean {
    const sources = this.sources;
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i];
      if (source.splitter?.pending || source.gro?.pending) return true;
    }
    return false;
  }

  /**
   * poll() over the empty descriptors (or all of them) and the wake fd, for at most `timeoutMs`
   * (0: only ask). A descriptor polled and not readable is known empty afterwards.
   *
   * @param every poll the descriptors not known to be empty too: after a lone packet the loop
   *   sleeps at once, rather than first reading what would only say EAGAIN
   * @returns whether the wake fd is readable (messages are waiting for the event loop);
   *   {@linkcode failed} says what broke
   */
  wait(timeoutMs: number, every = false): boolean {
    this.failed = null;
    const c = libc();
    const polled = this.#polled;
    polled.length = 0;
    const sources = this.sources;
    for (let i = 0; i < sources.length; i++) {
      if (every || !sources[i].ready) polled.push(sources[i]);
    }
    const count = polled.length + (this.wakeFd >= 0 ? 1 : 0);
    if (this.#pollFds.length < count * POLLFD_BYTES) {
      this.#pollFds = new Uint8Array(count * POLLFD_BYTES); // more sources after a swap
      this.#pollView = new DataView(this.#pollFds.buffer);
    }
    const view = this.#pollView;
    for (let i = 0; i < count; i++) {
      const fd = i < polled.length ? polled[i].fd : this.wakeFd;
      view.setInt32(i * POLLFD_BYTES, fd, true);
      view.setInt16(i * POLLFD_BYTES + 4, POLLIN, true);
      view.setInt16(i * POLLFD_BYTES + 6, 0, true);
    }
    if (count === 0) return false;
    c.poll(this.#pollFds, sizeArg(count), timeoutMs);
    let failed: SourceFailure | null = null;
    for (let i = 0; i < polled.length; i++) {
      const source = polled[i];
      const events = view.getInt16(i * POLLFD_BYTES + 6, true);
      if ((events & POLLIN) !== 0) source.ready = source.woke = true;
      else source.ready = false;
      if ((events & POLLERR_HUP_NVAL) === 0 || (events & POLLIN) !== 0) continue;
      // Let read report the cause (EBADFD once the interface is gone).
      if (source.kind !== "tun" || failed) continue;
      const ring = source.ring;
      const probe = c.read(source.fd, source.slotViews[ring.index(ring.head())], source.slotSize);
      if (probe < 0 && errno() !== EAGAIN) failed = { source, errno: errno() };
    }
    this.failed = failed;
    return this.wakeFd >= 0 &&
      (view.getInt16(polled.length * POLLFD_BYTES + 6, true) & POLLIN) !== 0;
  }
}

const WAKE_ONE = new BigUint64Array([1n]);
const wakeScratch = new BigUint64Array(1);

/**
 * The eventfd the engine polls beside its descriptors (semaphore mode: one count per message).
 *
 * @throws {SyscallError} when the kernel refuses one
 */
export function openWakeFd(): number {
  const fd = libc().eventfd(0, EFD_SEMAPHORE | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new SyscallError("eventfd", errno());
  return fd;
}

/** Main thread, after posting a message to the engine: wakes its poll(). */
export function signalWake(fd: number): void {
  libc().write(fd, WAKE_ONE, 8n);
}

/** Engine, on each message: takes its count off, so poll() sleeps again once all have run. */
export function consumeWake(fd: number): void {
  libc().read(fd, wakeScratch, 8n);
}
