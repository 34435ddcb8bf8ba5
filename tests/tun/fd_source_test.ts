// The engine's descriptors (src/tun/fd_source.ts) on real UDP sockets: poll() over every source
// marks each readable one ready and woken and each other one empty, so the loop can sleep right
// after a lone packet without first reading what would only say EAGAIN; data a reader still
// holds from an earlier read counts as buffered, so the loop never sleeps on it.

import { assertEquals } from "../_support/assert.ts";
import { FdSource, FdSources } from "../../src/tun/fd_source.ts";
import { PacketRing } from "../../src/tun/pool.ts";
import { closeUdpSockets, encodeSockaddr, openUdpSockets } from "../../src/tun/udp.ts";
import { closeLibc, libc } from "../../src/tun/libc.ts";
import { GsoBatch } from "../../src/tun/udp_gso.ts";
import { StickySender } from "../../src/tun/udp_sticky.ts";

Deno.test("wait(…, every): readable sources ready and woken, the others known empty", async () => {
  const sender = openUdpSockets(0), quiet = openUdpSockets(0), busy = openUdpSockets(0);
  try {
    const fds = new FdSources(-1);
    const quietSource = new FdSource("udp", quiet.fd4, PacketRing.create(4, 2048).buffer);
    const busySource = new FdSource("udp", busy.fd4, PacketRing.create(4, 2048).buffer);
    fds.replaceUdp([quietSource, busySource]);
    assertEquals([quietSource.ready, busySource.ready], [true, true], "not known empty yet");
    const to = encodeSockaddr({ address: "127.0.0.1", port: busy.port });
    assertEquals(libc().sendto(sender.fd4, new Uint8Array(60), 60n, 0, to, to.length), 60);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(fds.wait(1000, true), false, "no wake fd");
    assertEquals(fds.failed, null);
    assertEquals([quietSource.ready, quietSource.woke], [false, false], "quiet: known empty");
    assertEquals([busySource.ready, busySource.woke], [true, true], "busy: read next round");
    assertEquals(fds.read(), 1);
    assertEquals(busySource.ring.available(), 1);
  } finally {
    closeUdpSockets(sender);
    closeUdpSockets(quiet);
    closeUdpSockets(busy);
    closeLibc();
  }
});

Deno.test("anyBuffered: datagrams a GRO read brought that the ring had no room for", async () => {
  const sender = openUdpSockets(0), receiver = openUdpSockets(0);
  try {
    const fds = new FdSources(-1);
    const source = new FdSource(
      "udp",
      receiver.fd4,
      PacketRing.create(2, 2048).buffer,
      "none",
      true,
    );
    if (!source.gro) {
      console.log("fd_source_test: skipped, the kernel refuses UDP_GRO");
      return;
    }
    fds.replaceUdp([source]);
    const endpoint = { address: "127.0.0.1", port: receiver.port };
    const batch = new GsoBatch();
    for (let i = 0; i < 4; i++) batch.append(endpoint, new Uint8Array(500).fill(i), 500);
    const address = encodeSockaddr(endpoint);
    const sent = new StickySender().send(
      sender.fd4,
      address,
      null,
      batch.buffer,
      batch.length,
      batch.segmentSize,
    );
    assertEquals(sent, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(fds.anyBuffered(), false);
    assertEquals(fds.read(), 2, "two slots: two of the four datagrams");
    assertEquals(fds.anyBuffered(), true, "two wait in the reader");
    source.ring.release(2);
    assertEquals(fds.read(), 2);
    assertEquals(fds.anyBuffered(), false);
  } finally {
    closeUdpSockets(sender);
    closeUdpSockets(receiver);
    closeLibc();
  }
});
