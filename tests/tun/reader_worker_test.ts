// Reader Worker: fills its ring from a real UDP socket in one recvmmsg batch, and exits on shutdown.

import { assert, assertEquals } from "../_support/assert.ts";
import { Doorbell, PacketRing, SLOT_SOCKADDR_OFFSET } from "../../src/tun/pool.ts";
import type { ReaderReport, ReaderRequest } from "../../src/tun/protocol.ts";
import {
  closeUdpSockets,
  decodeSockaddr,
  encodeSockaddr,
  openUdpSockets,
  type UdpSockets,
} from "../../src/tun/udp.ts";
import { libc } from "../../src/tun/libc.ts";
import { nextReport, startWorker } from "./_worker.ts";

/** A second socket pair sending to 127.0.0.1:port through libc (no --unstable-net needed). */
function udpSender() {
  const sockets: UdpSockets = openUdpSockets(0);
  return {
    port: sockets.port,
    send(bytes: Uint8Array, port: number) {
      const address = encodeSockaddr({ address: "127.0.0.1", port });
      libc().sendto(sockets.fd4, bytes, bytes.length, 0, address, address.length);
    },
    close: () => closeUdpSockets(sockets),
  };
}

/** A reader Worker started on UDP `fds`, each with a fresh ring (`ring` is the first's). */
function startReader(fds: number[], slots: number) {
  const rings = fds.map(() => PacketRing.create(slots, 2048));
  const bell = new Doorbell();
  const worker = startWorker("reader_worker.ts");
  const started = nextReport<ReaderReport>(worker, "started");
  const sources = fds.map((fd, i) => ({ kind: "udp" as const, fd, ring: rings[i].buffer }));
  worker.postMessage({ type: "start", sources, bell: bell.buffer } satisfies ReaderRequest);
  return { ring: rings[0], rings, bell, worker, started };
}

/** Asks the worker to shut down. @returns its "stopped" report */
function shutdown(worker: Worker): Promise<ReaderReport> {
  const stopped = nextReport<ReaderReport>(worker, "stopped");
  worker.postMessage({ type: "shutdown" } satisfies ReaderRequest);
  return stopped;
}

Deno.test("reader worker moves UDP datagrams into its ring and exits on shutdown", async () => {
  const sockets = openUdpSockets(0);
  const { ring, bell, worker, started } = startReader([sockets.fd4], 64);
  const sender = udpSender();
  try {
    await started;
    for (let i = 0; i < 10; i++) sender.send(new Uint8Array(100 + i).fill(i), sockets.port);
    const deadline = Date.now() + 5000;
    while (ring.available() < 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assertEquals(ring.available(), 10);
    assert(Atomics.load(bell.cells, 0) > 0, "the doorbell was rung");
    const senderPort = sender.port;
    for (let i = 0; i < 10; i++) {
      const index = ring.index(ring.tail() + i);
      assertEquals(ring.length(index), 100 + i);
      assertEquals(ring.bytes[ring.dataOffset(index)], i);
      const from = decodeSockaddr(ring.bytes, ring.headerOffset(index) + SLOT_SOCKADDR_OFFSET);
      assertEquals(from, { address: "127.0.0.1", port: senderPort });
    }
    ring.release(10);
    assertEquals((await shutdown(worker)).type, "stopped");
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(sockets);
  }
});

Deno.test("reader worker drops nothing when the ring is full, and waits for space", async () => {
  const sockets = openUdpSockets(0);
  const { ring, worker } = startReader([sockets.fd4], 4);
  const sender = udpSender();
  try {
    for (let i = 0; i < 8; i++) sender.send(new Uint8Array([i]), sockets.port);
    const seen: number[] = [];
    const deadline = Date.now() + 5000;
    while (seen.length < 8 && Date.now() < deadline) {
      if (ring.available() > 0) {
        seen.push(ring.bytes[ring.dataOffset(ring.index(ring.tail()))]);
        ring.release(1);
      } else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(seen, [0, 1, 2, 3, 4, 5, 6, 7]);
    assertEquals((await shutdown(worker)).type, "stopped");
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(sockets);
  }
});

Deno.test("one reader worker drains two sockets, each into its own ring", async () => {
  const first = openUdpSockets(0), second = openUdpSockets(0);
  const { rings, worker, started } = startReader([first.fd4, second.fd4], 16);
  const sender = udpSender();
  try {
    await started;
    for (let i = 0; i < 3; i++) sender.send(new Uint8Array([1, i]), first.port);
    for (let i = 0; i < 5; i++) sender.send(new Uint8Array([2, i]), second.port);
    const deadline = Date.now() + 5000;
    while ((rings[0].available() < 3 || rings[1].available() < 5) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const [r, ring] of rings.entries()) {
      const count = r === 0 ? 3 : 5;
      assertEquals(ring.available(), count);
      for (let i = 0; i < count; i++) {
        const offset = ring.dataOffset(ring.index(ring.tail() + i));
        assertEquals([...ring.bytes.subarray(offset, offset + 2)], [r + 1, i]);
      }
      ring.release(count);
    }
    assertEquals((await shutdown(worker)).type, "stopped");
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(first);
    closeUdpSockets(second);
  }
});

Deno.test("a reader moved to new UDP sockets answers udpMoved and fills the new ring", async () => {
  const old = openUdpSockets(0), fresh = openUdpSockets(0);
  const { worker, started } = startReader([old.fd4], 16);
  const sender = udpSender();
  try {
    await started;
    const ring = PacketRing.create(16, 2048);
    const moved = nextReport<ReaderReport>(worker, "udpMoved");
    worker.postMessage(
      {
        type: "udp",
        id: 7,
        sources: [{ kind: "udp", fd: fresh.fd4, ring: ring.buffer }],
      } satisfies ReaderRequest,
    );
    assertEquals(await moved, { type: "udpMoved", id: 7 });
    sender.send(new Uint8Array([42]), fresh.port);
    const deadline = Date.now() + 5000;
    while (ring.available() < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assertEquals(ring.bytes[ring.dataOffset(ring.index(ring.tail()))], 42);
    assertEquals((await shutdown(worker)).type, "stopped");
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(old);
    closeUdpSockets(fresh);
  }
});
