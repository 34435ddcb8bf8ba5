// UDP GRO on the receive side (udp_gro.ts, FdSource with udpGro): a GSO send over loopback (the
// segments of one batch, a shorter last one) is read as one coalesced datagram and cut into ring
// slots that hold exactly what recvmmsg leaves without GRO: the same datagrams in order, the same
// sender sockaddr and the same pktinfo source. Plain datagrams of mixed sizes (what wireguard-go
// sends) come through one by one, and a ring with fewer free slots than datagrams takes the rest
// in the next round.

import { assert, assertEquals } from "../_support/assert.ts";
import { GsoBatch } from "../../src/tun/udp_gso.ts";
import { StickySender, StickySources } from "../../src/tun/udp_sticky.ts";
import { SLOT_CONTROL_LENGTH_OFFSET, SLOT_CONTROL_OFFSET } from "../../src/tun/udp_sticky.ts";
import {
  closeUdpSockets,
  decodeSockaddr,
  encodeSockaddr,
  openUdpSockets,
  type UdpSockets,
} from "../../src/tun/udp.ts";
import { enableUdpGro, GroReader } from "../../src/tun/udp_gro.ts";
import { FdSource } from "../../src/tun/fd_source.ts";
import { PacketRing, SLOT_SOCKADDR_OFFSET } from "../../src/tun/pool.ts";
import { closeLibc, EAGAIN, errno, libc, sizeArg } from "../../src/tun/libc.ts";

const datagram = (size: number, fill: number) => new Uint8Array(size).fill(fill);
/** Sent to 127.0.0.2, so the pktinfo source (the local address contacted) is not the default. */
const LOCAL = "127.0.0.2";

interface Received {
  data: Uint8Array;
  from: string;
  source: string;
}

/** Takes every published slot of `source`'s ring: its datagram, sender and pktinfo source. */
function drain(source: FdSource, into: Received[]): void {
  const ring = source.ring;
  const sticky = new StickySources();
  while (ring.available() > 0) {
    const index = ring.index(ring.tail());
    const header = ring.headerOffset(index);
    const from = decodeSockaddr(ring.bytes, header + SLOT_SOCKADDR_OFFSET)!;
    sticky.remember(
      from,
      ring.bytes,
      header + SLOT_CONTROL_OFFSET,
      ring.view.getInt32(header + SLOT_CONTROL_LENGTH_OFFSET, true),
    );
    const offset = ring.dataOffset(index);
    into.push({
      data: ring.bytes.slice(offset, offset + ring.length(index)),
      from: `${from.address}:${from.port}`,
      source: [...sticky.sourceOf(from)?.address.subarray(0, 4) ?? []].join("."),
    });
    ring.release(1);
  }
}

/** Reads rounds until the socket is empty (waits briefly for loopback delivery first). */
async function receiveAll(source: FdSource, into: Received[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (;;) {
    const count = source.receive();
    drain(source, into);
    if (count < 0) {
      assertEquals(errno(), EAGAIN);
      return;
    }
  }
}

function sendGsoBatch(from: UdpSockets, to: number, sizes: number[]): void {
  const batch = new GsoBatch();
  const endpoint = { address: LOCAL, port: to };
  for (const [i, size] of sizes.entries()) batch.append(endpoint, datagram(size, i + 1), size);
  const sent = new StickySender().send(
    from.fd4,
    encodeSockaddr(endpoint),
    null,
    batch.buffer,
    batch.length,
    batch.segmentSize,
  );
  assertEquals(sent, 0, "the kernel takes UDP_SEGMENT");
}

function sendPlain(from: UdpSockets, to: number, sizes: number[]): void {
  const address = encodeSockaddr({ address: LOCAL, port: to });
  for (const [i, size] of sizes.entries()) {
    const data = datagram(size, i + 1);
    assertEquals(libc().sendto(from.fd4, data, sizeArg(size), 0, address, address.length), size);
  }
}

const GSO_SIZES = [...Array(9).fill(1200), 300];

Deno.test("UDP GRO: one read takes a whole GSO batch, its size in the control message", async () => {
  const sender = openUdpSockets(0), receiver = openUdpSockets(0);
  try {
    if (!enableUdpGro(receiver.fd4)) {
      console.log("udp_gro_test: skipped, the kernel refuses UDP_GRO");
      return;
    }
    sendGsoBatch(sender, receiver.port, GSO_SIZES);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const reader = new GroReader(64);
    assertEquals(reader.read(receiver.fd4), 9 * 1200 + 300, "one read, all ten datagrams");
    const slot = new Uint8Array(2048);
    for (const [i, size] of GSO_SIZES.entries()) {
      assert(reader.pending, `datagram ${i} pending`);
      assertEquals(reader.next(slot, slot.length), size);
      assertEquals(slot.subarray(0, size), datagram(size, i + 1));
    }
    assert(!reader.pending);
  } finally {
    closeUdpSockets(sender);
    closeUdpSockets(receiver);
    closeLibc();
  }
});

Deno.test("UDP GRO: the ring gets what recvmmsg gives without it (data, sender, pktinfo)", async () => {
  const sender = openUdpSockets(0);
  const plainSockets = openUdpSockets(0), groSockets = openUdpSockets(0);
  try {
    // Four slots: a batch of ten is handed out over several rounds.
    const plain = new FdSource("udp", plainSockets.fd4, PacketRing.create(4, 2048).buffer);
    const gro = new FdSource(
      "udp",
      groSockets.fd4,
      PacketRing.create(4, 2048).buffer,
      "none",
      true,
    );
    if (!gro.gro) {
      console.log("udp_gro_test: skipped, the kernel refuses UDP_GRO");
      return;
    }
    assertEquals(plain.gro, null, "no GRO unless asked for");
    const mixed = [1200, 800, 1200, 60, 1420];
    const expected: Received[] = [], got: Received[] = [];
    sendGsoBatch(sender, plainSockets.port, GSO_SIZES);
    sendPlain(sender, plainSockets.port, mixed);
    sendGsoBatch(sender, plainSockets.port, [1420, 1420, 1420]);
    await receiveAll(plain, expected);
    sendGsoBatch(sender, groSockets.port, GSO_SIZES);
    sendPlain(sender, groSockets.port, mixed);
    sendGsoBatch(sender, groSockets.port, [1420, 1420, 1420]);
    await receiveAll(gro, got);
    assertEquals(expected.length, GSO_SIZES.length + mixed.length + 3);
    assertEquals(got.map((r) => r.data), expected.map((r) => r.data));
    assertEquals(got.map((r) => r.from), expected.map((r) => r.from));
    assertEquals(new Set(got.map((r) => r.from)), new Set([`127.0.0.1:${sender.port}`]));
    assertEquals(got.map((r) => r.source), expected.map((r) => r.source));
    assertEquals(new Set(got.map((r) => r.source)), new Set([LOCAL]), "pktinfo on every one");
  } finally {
    closeUdpSockets(sender);
    closeUdpSockets(plainSockets);
    closeUdpSockets(groSockets);
    closeLibc();
  }
});

Deno.test("UDP GRO: a round woken by poll() takes one read; the next round takes the rest", async () => {
  const sender = openUdpSockets(0), receiver = openUdpSockets(0);
  try {
    const gro = new FdSource("udp", receiver.fd4, PacketRing.create(8, 2048).buffer, "none", true);
    if (!gro.gro) {
      console.log("udp_gro_test: skipped, the kernel refuses UDP_GRO");
      return;
    }
    // Sizes that never join: each is a read of its own.
    sendPlain(sender, receiver.port, [100, 200, 300]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const got: Received[] = [];
    gro.woke = true;
    assertEquals(gro.receive(), 1, "woken: one read, handed on before asking again");
    assertEquals(gro.woke, false);
    drain(gro, got);
    assertEquals(gro.receive(), 2, "then until the socket is empty");
    drain(gro, got);
    assertEquals(got.map((r) => r.data.length), [100, 200, 300]);
    assertEquals(gro.ready, false, "found empty: poll() is asked before the next read");
  } finally {
    closeUdpSockets(sender);
    closeUdpSockets(receiver);
    closeLibc();
  }
});
