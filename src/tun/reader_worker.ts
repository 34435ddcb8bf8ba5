// Reader Worker: drains one descriptor (the TUN, or one UDP socket with recvmmsg batches) into a
// SharedArrayBuffer ring for the engine, and rings the engine's doorbell. Never touches packets.

/// <reference lib="deno.worker" />

import { Doorbell, PacketRing, SLOT_SOCKADDR_OFFSET } from "./pool.ts";
import type { ReaderKind, ReaderReport, ReaderRequest } from "./protocol.ts";
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
// Yield to the event loop this often under load, so a shutdown message is seen promptly.
const SLICE_MS = 50;
const MAX_BATCH = 64;

let stopping = false;

function report(message: ReaderReport): void {
  self.postMessage(message);
}

function stop(): void {
  report({ type: "stopped" });
  closeLibc();
  self.close();
}

function run(kind: ReaderKind, fd: number, ring: PacketRing, bell: Doorbell): void {
  const c = libc();
  const pollFd = new Uint8Array(8);
  const pollView = new DataView(pollFd.buffer);
  pollView.setInt32(0, fd, true);
  pollView.setInt16(4, POLLIN, true);
  const slotViews: Uint8Array[] = [];
  for (let i = 0; i < ring.slotCount; i++) {
    slotViews.push(ring.bytes.subarray(ring.dataOffset(i), ring.dataOffset(i) + ring.dataBytes));
  }
  // recvmmsg writes straight into the slots: one mmsghdr and iovec per slot, built once.
  const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(ring.bytes));
  const mmsgPointers: Deno.PointerObject[] = [];
  if (kind === "udp") {
    for (let i = 0; i < ring.slotCount; i++) {
      const header = ring.mmsgOffset + i * 64;
      const iovec = ring.iovecOffset + i * 16;
      const pointerAt = (offset: number) => BigInt(base) + BigInt(offset);
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
      mmsgPointers.push(Deno.UnsafePointer.create(pointerAt(header))!);
    }
  }

  const fail = (code: number) => {
    report({ type: "failed", errno: code });
    stopping = true;
    stop();
  };

  const slice = () => {
    const sliceEnd = performance.now() + SLICE_MS;
    while (!stopping) {
      const free = ring.free();
      if (free === 0) {
        ring.waitForSpace(10);
        if (performance.now() > sliceEnd) break;
        continue;
      }
      const index = ring.index(ring.head());
      let received: number;
      if (kind === "tun") {
        received = c.read(fd, slotViews[index], ring.dataBytes);
        if (received > 0) {
          ring.setLength(index, received);
          received = 1;
        }
      } else {
        const count = Math.min(free, ring.slotCount - index, MAX_BATCH);
        received = c.recvmmsg(fd, mmsgPointers[index], count, MSG_DONTWAIT, null);
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
      if (received > 0) {
        ring.publish(received);
        bell.ring();
        if (performance.now() > sliceEnd) break;
        continue;
      }
      const code = errno();
      if (received === 0 && kind === "tun") continue;
      if (code === EINTR) continue;
      if (code !== EAGAIN) return fail(code);
      const ready = c.poll(pollFd, 1, POLL_TIMEOUT_MS);
      const events = pollView.getInt16(6, true);
      if (ready > 0 && (events & (POLLERR | POLLHUP | POLLNVAL)) !== 0 && (events & POLLIN) === 0) {
        // Let read report the cause (EBADFD once the interface is gone).
        const probe = kind === "tun" ? c.read(fd, slotViews[index], ring.dataBytes) : -1;
        if (probe < 0 && errno() !== EAGAIN) return fail(errno());
      }
      if (ready === 0) break; // idle: yield so messages (shutdown) are handled
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
  if (message.type === "start") {
    report({ type: "started" });
    run(message.kind, message.fd, PacketRing.attach(message.ring), new Doorbell(message.bell));
  }
};
