// UDP GSO on the send side (udp_gso.ts, StickySender with UDP_SEGMENT): which datagrams a batch
// takes (one destination, one size but a shorter last, 64 at most), and one sendmsg over loopback
// arriving as the separate datagrams, in order, with and without a pktinfo source (the sticky
// source of udp_sticky.ts and the segment size share one control buffer).

import { assert, assertEquals } from "../_support/assert.ts";
import { GSO_BYTES_MAX, GSO_SEGMENTS_MAX, GsoBatch } from "../../src/tun/udp_gso.ts";
import { StickySender } from "../../src/tun/udp_sticky.ts";
import { closeUdpSockets, encodeSockaddr, openUdpSockets } from "../../src/tun/udp.ts";
import { closeLibc } from "../../src/tun/libc.ts";

const datagram = (size: number, fill: number) => new Uint8Array(size).fill(fill);

Deno.test("GSO batch: one destination, one size, a shorter last, bounded", () => {
  const a = { address: "10.0.0.1", port: 1 }, b = { address: "10.0.0.2", port: 1 };
  const batch = new GsoBatch();
  assert(batch.accepts(a, 1452));
  batch.append(a, datagram(1452, 1), 1452);
  assert(batch.accepts(a, 1452), "same size");
  assert(!batch.accepts(b, 1452), "another destination");
  assert(!batch.accepts(a, 1453), "a larger datagram");
  batch.append(a, datagram(100, 2), 100);
  assert(!batch.accepts(a, 100), "nothing after a shorter one");
  assertEquals([batch.count, batch.length, batch.segmentSize], [2, 1552, 1452]);
  batch.clear();
  assert(batch.accepts(b, 64));
  for (let i = 0; i < GSO_SEGMENTS_MAX; i++) batch.append(b, datagram(64, i), 64);
  assert(!batch.accepts(b, 64), "64 datagrams at most");
  batch.clear();
  for (let i = 0; i * 1452 + 1452 <= GSO_BYTES_MAX && i < GSO_SEGMENTS_MAX; i++) {
    batch.append(a, datagram(1452, i), 1452);
  }
  assert(!batch.accepts(a, 1452), "one UDP datagram's room at most");
});

Deno.test("GSO send: one sendmsg arrives as separate datagrams, in order, with a source", async () => {
  const receiver = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sockets = openUdpSockets(0);
  try {
    const port = (receiver.addr as Deno.NetAddr).port;
    const to = { address: "127.0.0.1", port };
    const sender = new StickySender();
    for (const source of [null, { address: new Uint8Array([127, 0, 0, 1]), length: 4 }]) {
      const batch = new GsoBatch();
      for (let i = 0; i < 9; i++) batch.append(to, datagram(1200, i + 1), 1200);
      batch.append(to, datagram(300, 99), 300);
      const failed = sender.send(
        sockets.fd4,
        encodeSockaddr(to),
        source,
        batch.buffer,
        batch.length,
        batch.segmentSize,
      );
      assertEquals(failed, 0, "the kernel takes UDP_SEGMENT");
      for (let i = 0; i < 10; i++) {
        const [data] = await receiver.receive();
        assertEquals(data, i < 9 ? datagram(1200, i + 1) : datagram(300, 99), `datagram ${i}`);
      }
    }
  } finally {
    receiver.close();
    closeUdpSockets(sockets);
    closeLibc();
  }
});
