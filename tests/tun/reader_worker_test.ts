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

function nextReport(worker: Worker, type: ReaderReport["type"]): Promise<ReaderReport> {
  return new Promise((resolve) => {
    const listener = (event: MessageEvent<ReaderReport>) => {
      if (event.data.type === type) {
        worker.removeEventListener("message", listener);
        resolve(event.data);
      }
    };
    worker.addEventListener("message", listener);
  });
}

Deno.test("reader worker moves UDP datagrams into its ring and exits on shutdown", async () => {
  const sockets = openUdpSockets(0);
  const ring = PacketRing.create(64, 2048);
  const bell = new Doorbell();
  const worker = new Worker(new URL("../../src/tun/reader_worker.ts", import.meta.url), {
    type: "module",
  });
  const sender = udpSender();
  try {
    const started = nextReport(worker, "started");
    worker.postMessage(
      {
        type: "start",
        kind: "udp",
        fd: sockets.fd4,
        ring: ring.buffer,
        bell: bell.buffer,
      } satisfies ReaderRequest,
    );
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
    const stopped = nextReport(worker, "stopped");
    worker.postMessage({ type: "shutdown" } satisfies ReaderRequest);
    assertEquals((await stopped).type, "stopped");
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(sockets);
  }
});

Deno.test("reader worker drops nothing when the ring is full, and waits for space", async () => {
  const sockets = openUdpSockets(0);
  const ring = PacketRing.create(4, 2048);
  const bell = new Doorbell();
  const worker = new Worker(new URL("../../src/tun/reader_worker.ts", import.meta.url), {
    type: "module",
  });
  const sender = udpSender();
  try {
    worker.postMessage(
      {
        type: "start",
        kind: "udp",
        fd: sockets.fd4,
        ring: ring.buffer,
        bell: bell.buffer,
      } satisfies ReaderRequest,
    );
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
    const stopped = nextReport(worker, "stopped");
    worker.postMessage({ type: "shutdown" } satisfies ReaderRequest);
    await stopped;
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(sockets);
  }
});
