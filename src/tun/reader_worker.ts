// Reader Worker: drains the device's descriptors (the TUN, and the UDP sockets with recvmmsg
// batches) each into its own SharedArrayBuffer ring for the engine, and rings the engine's
// doorbell. One Worker serves them all with one poll() over them (a Worker is a V8 isolate of
// about 7.5 MiB); a new listen port swaps its UDP sources. Never touches packets.

/// <reference lib="deno.worker" />

import { Doorbell, PacketRing, SLOT_SOCKADDR_OFFSET } from "./pool.ts";
import type { ReaderKind, ReaderReport, ReaderRequest, ReaderSource } from "./protocol.ts";
import {
  closeLibc,
  EAGAIN,
  EINTR,
  errno,
  libc,
  MSG_DONTWAIT,
  MSG_TRUNC,
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLNVAL,
} from "./libc.ts";
import { SOCKADDR_IN6_SIZE } from "./udp.ts";
import {
  SLOT_CONTROL_BYTES,
  SLOT_CONTROL_LENGTH_OFFSET,
  SLOT_CONTROL_OFFSET,
} from "./udp_sticky.ts";

const POLL_TIMEOUT_MS = 100;
/** Poll timeout while a ring is full: its descriptor is left out of the poll until it has room. */
const FULL_RING_RETRY_MS = 10;
// Yield to the event loop this often under load, so a shutdown message is seen promptly.
const SLICE_MS = 50;
const MAX_BATCH = 64;
/** TUN packets read in a row before the sockets get a turn. */
const TUN_BATCH = 32;
const POLLFD_BYTES = 8;

let stopping = false;
/** The sources being drained; the "udp" message swaps the UDP ones between slices. */
let active: Source[] = [];

function report(message: ReaderReport): void {
  self.postMessage(message);
}

function stop(): void {
  report({ type: "stopped" });
  closeLibc();
  self.close();
}

/** One descriptor and its ring, with what reading into the ring needs, built once. */
class Source {
  readonly ring: PacketRing;
  /** The TUN: each slot's data area, for read(). */
  readonly slotViews: Uint8Array[] = [];
  /** UDP: one mmsghdr (and iovec) per slot, so recvmmsg writes straight into the slots. */
  readonly mmsgPointers: Deno.PointerObject[] = [];
  /** False once a read found nothing (EAGAIN), until poll() says the descriptor is readable. */
  ready = true;

  constructor(readonly kind: ReaderKind, readonly fd: number, buffer: SharedArrayBuffer) {
    const ring = this.ring = PacketRing.attach(buffer);
    for (let i = 0; i < ring.slotCount; i++) {
      this.slotViews.push(
        ring.bytes.subarray(ring.dataOffset(i), ring.dataOffset(i) + ring.dataBytes),
      );
    }
    if (kind !== "udp") return;
    const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(ring.bytes));
    const pointerAt = (offset: number) => BigInt(base) + BigInt(offset);
    for (let i = 0; i < ring.slotCount; i++) {
      const header = ring.mmsgOffset + i * 64;
      const iovec = ring.iovecOffset + i * 16;
      ring.view.setBigUint64(header, pointerAt(ring.headerOffset(i) + SLOT_SOCKADDR_OFFSET), true);
      ring.view.setUint32(header + 8, SOCKADDR_IN6_SIZE, true);
      ring.view.setBigUint64(header + 16, pointerAt(iovec), true);
      ring.view.setBigUint64(header + 24, 1n, true);
      // The pktinfo control message (the local address contacted) lands in the slot header.
      ring.view.setBigUint64(
        header + 32,
        pointerAt(ring.headerOffset(i) + SLOT_CONTROL_OFFSET),
        true,
      );
      ring.view.setBigUint64(header + 40, BigInt(SLOT_CONTROL_BYTES), true);
      ring.view.setBigUint64(iovec, pointerAt(ring.dataOffset(i)), true);
      ring.view.setBigUint64(iovec + 8, BigInt(ring.dataBytes), true);
      this.mmsgPointers.push(Deno.UnsafePointer.create(pointerAt(header))!);
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
    if (this.kind === "tun") {
      // One packet per read(): up to TUN_BATCH of them before the other descriptors get a turn.
      received = 0;
      const head = ring.head();
      const most = Math.min(free, TUN_BATCH);
      while (received < most) {
        const slot = ring.index(head + received);
        const length = c.read(this.fd, this.slotViews[slot], ring.dataBytes);
        if (length <= 0) {
          if (received > 0) break; // what was read is published; the error comes back next time
          return length === 0 ? 0 : -1;
        }
        ring.setLength(slot, length);
        received++;
      }
    } else {
      const count = Math.min(free, ring.slotCount - index, MAX_BATCH);
      received = c.recvmmsg(this.fd, this.mmsgPointers[index], count, MSG_DONTWAIT, null);
      for (let i = 0; i < received; i++) {
        const header = ring.mmsgOffset + (index + i) * 64;
        const truncated = (ring.view.getInt32(header + 48, true) & MSG_TRUNC) !== 0;
        // An oversized datagram is marked -1 and dropped by the engine.
        ring.setLength(index + i, truncated ? -1 : ring.view.getUint32(header + 56, true));
        ring.view.setUint32(header + 8, SOCKADDR_IN6_SIZE, true);
        ring.view.setInt32(header + 48, 0, true);
        const control = Number(ring.view.getBigUint64(header + 40, true));
        ring.view.setInt32(
          ring.headerOffset(index + i) + SLOT_CONTROL_LENGTH_OFFSET,
          control,
          true,
        );
        ring.view.setBigUint64(header + 40, BigInt(SLOT_CONTROL_BYTES), true);
      }
    }
    if (received > 0) ring.publish(received);
    return received;
  }
}

function run(sources: Source[], bell: Doorbell): void {
  const c = libc();
  let pollFds = new Uint8Array(POLLFD_BYTES * 4);
  let pollView = new DataView(pollFds.buffer);
  const polled: Source[] = [];

  /** A descriptor broke: the TUN ends the reader (the interface is gone), a socket only itself. */
  const fail = (source: Source, code: number): boolean => {
    report({ type: "failed", kind: source.kind, errno: code });
    sources.splice(sources.indexOf(source), 1);
    if (source.kind === "tun" || sources.length === 0) {
      stopping = true;
      return true;
    }
    return false;
  };

  const slice = () => {
    const sliceEnd = performance.now() + SLICE_MS;
    rounds: while (!stopping) {
      // 1. Read every descriptor not known to be empty, into its ring while it has room.
      let published = 0;
      let pending = false;
      for (const source of [...sources]) {
        if (!source.ready || source.ring.free() === 0) continue;
        const received = source.receive();
        if (received > 0) {
          published += received;
          pending = true;
          continue;
        }
        if (received === 0) { // a TUN read of nothing: try again
          pending = true;
          continue;
        }
        const code = errno();
        if (code === EAGAIN) source.ready = false;
        else if (code === EINTR) pending = true;
        else if (fail(source, code)) break rounds;
      }
      if (published > 0) bell.ring();
      // 2. Ask poll() about the empty ones: at once while others still have packets, else wait.
      polled.length = 0;
      let full = false;
      for (const source of sources) {
        if (source.ring.free() === 0) full = true;
        else if (!source.ready) polled.push(source);
      }
      if (polled.length === 0) {
        // Every ring is full, or every descriptor is being read: wait for room or go on.
        if (!pending && full) {
          sources.find((source) => source.ring.free() === 0)?.ring.waitForSpace(10);
        }
        if (performance.now() > sliceEnd) break;
        continue;
      }
      if (pollFds.length < polled.length * POLLFD_BYTES) {
        pollFds = new Uint8Array(polled.length * POLLFD_BYTES); // more sources after a swap
        pollView = new DataView(pollFds.buffer);
      }
      for (const [i, source] of polled.entries()) {
        pollView.setInt32(i * POLLFD_BYTES, source.fd, true);
        pollView.setInt16(i * POLLFD_BYTES + 4, POLLIN, true);
        pollView.setInt16(i * POLLFD_BYTES + 6, 0, true);
      }
      const timeout = pending ? 0 : full ? FULL_RING_RETRY_MS : POLL_TIMEOUT_MS;
      const ready = c.poll(pollFds, polled.length, timeout);
      for (const [i, source] of polled.entries()) {
        const events = pollView.getInt16(i * POLLFD_BYTES + 6, true);
        if ((events & POLLIN) !== 0) source.ready = true;
        if ((events & (POLLERR | POLLHUP | POLLNVAL)) === 0 || (events & POLLIN) !== 0) continue;
        // Let read report the cause (EBADFD once the interface is gone).
        if (source.kind !== "tun") continue;
        const ring = source.ring;
        const probe = c.read(source.fd, source.slotViews[ring.index(ring.head())], ring.dataBytes);
        if (probe < 0 && errno() !== EAGAIN && fail(source, errno())) break rounds;
      }
      // Idle: yield so messages (shutdown, new sockets) are handled.
      if (ready === 0 && timeout === POLL_TIMEOUT_MS) break;
      if (performance.now() > sliceEnd) break;
    }
    if (stopping) stop();
    else setTimeout(slice, 0);
  };
  slice();
}

self.onmessage = (event: MessageEvent<ReaderRequest>) => {
  const message = event.data;
  if (message.type === "shutdown") {
    if (!stopping) {
      stopping = true;
      // The running slice sees the flag and stops; when idle between slices, stop here.
      queueMicrotask(() => {});
    }
    return;
  }
  const sources = message.sources.map((source: ReaderSource) =>
    new Source(source.kind, source.fd, source.ring)
  );
  if (message.type === "udp") {
    // Between slices: no read is under way on the sockets being replaced.
    const kept = active.filter((source) => source.kind !== "udp");
    active.splice(0, active.length, ...kept, ...sources);
    report({ type: "udpMoved", id: message.id });
    return;
  }
  report({ type: "started" });
  active = sources;
  run(active, new Doorbell(message.bell));
};
