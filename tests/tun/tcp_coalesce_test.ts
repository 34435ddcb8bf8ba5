// The GRO-like joining of decrypted TCP segments (tcp_coalesce.ts) and its inverse, the splitter
// (tso_split.ts), without a kernel: which segments join (in order, same flow, same peer, same
// flags and options, checksums right), that the order of every write is kept, and that cutting a
// joined super-packet gives back the very segments that went in. The kernel's side is in
// tun_offload_netns_test.ts.

import { assert, assertEquals } from "../_support/assert.ts";
import { TcpCoalescer } from "../../src/tun/tcp_coalesce.ts";
import {
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  readVnetHeader,
  SuperPacketSplitter,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_BYTES,
  writeVnetHeader,
} from "../../src/tun/tso_split.ts";
import {
  fold,
  PROTO_TCP,
  PROTO_UDP,
  pseudoHeaderSum,
  setIpv4HeaderChecksum,
  sumWords,
  transportChecksumValid,
} from "../../src/tun/checksum.ts";
import { TCP_ACK, TCP_PSH, tcpPacket } from "./_tcp_packets.ts";

interface SegmentSpec {
  v4?: boolean;
  seq: number;
  payload: number;
  flags?: number;
  srcPort?: number;
  ack?: number;
  options?: number[];
  id?: number;
  tos?: number;
  /** IPv4 header options (makes the header longer). */
  ipOptions?: boolean;
  fragment?: boolean;
  badChecksum?: boolean;
}

const ACK = TCP_ACK, PSH = TCP_PSH;
const V4 = [new Uint8Array([10, 0, 0, 2]), new Uint8Array([10, 0, 0, 1])];
const V6 = [
  new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
  new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
];

function tcpSegment(spec: SegmentSpec): Uint8Array {
  const [source, destination] = (spec.v4 ?? true) ? V4 : V6;
  const payload = new Uint8Array(spec.payload);
  for (let i = 0; i < spec.payload; i++) payload[i] = (spec.seq + i) & 0xff;
  const packet = tcpPacket({
    ...spec,
    source,
    destination,
    sourcePort: spec.srcPort ?? 5000,
    destinationPort: 40000,
    ack: spec.ack ?? 777,
    options: spec.options ?? [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
    payload,
    window: 1000,
  });
  if (spec.badChecksum) packet[packet[0] >> 4 === 4 ? (spec.ipOptions ? 24 : 20) + 17 : 57] ^= 1;
  return packet;
}

/** Pushes packets through a coalescer; returns each write (header included) and the joined count. */
function coalesce(packets: { packet: Uint8Array; peer?: unknown }[]) {
  const writes: Uint8Array[] = [];
  const coalescer = new TcpCoalescer((bytes, length) => writes.push(bytes.slice(0, length)));
  const defaultPeer = {};
  for (const { packet, peer } of packets) {
    coalescer.push(packet, packet.length, peer ?? defaultPeer);
  }
  coalescer.flush();
  return { writes, joined: coalescer.joined };
}

function split(write: Uint8Array): Uint8Array[] {
  const splitter = new SuperPacketSplitter();
  splitter.buffer.set(write);
  assert(splitter.load(write.length), "the splitter takes the joined packet");
  const out: Uint8Array[] = [];
  const segment = new Uint8Array(70_000);
  for (let n = splitter.next(segment); n > 0; n = splitter.next(segment)) {
    out.push(segment.slice(0, n));
  }
  return out;
}

const withPeer = (packet: Uint8Array, peer?: unknown) => ({ packet, peer });

for (const v4 of [true, false]) {
  const family = v4 ? "IPv4" : "IPv6";

  Deno.test(`coalescer (${family}): in-order segments join, and split back to the same segments`, () => {
    const segments = [];
    for (let i = 0; i < 10; i++) {
      segments.push(tcpSegment({
        v4,
        seq: 1000 + i * 1200,
        payload: i === 9 ? 500 : 1200,
        flags: i === 9 ? ACK | PSH : ACK,
        id: 300 + i,
      }));
    }
    const { writes, joined } = coalesce(segments.map((s) => withPeer(s)));
    assertEquals(writes.length, 1);
    assertEquals(joined, 10);
    const header = readVnetHeader(writes[0]);
    const ipHeader = v4 ? 20 : 40;
    assertEquals(header, {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: v4 ? GSO_TCPV4 : GSO_TCPV6,
      hdrLen: ipHeader + 32,
      gsoSize: 1200,
      csumStart: ipHeader,
      csumOffset: 16,
    });
    const packet = writes[0].subarray(VNET_HDR_BYTES);
    if (v4) {
      assertEquals((packet[2] << 8) | packet[3], packet.length);
      assertEquals(fold(sumWords(packet, 0, 20)), 0xffff, "IPv4 header checksum");
    } else {
      assertEquals(((packet[4] << 8) | packet[5]) + 40, packet.length);
    }
    // The checksum field holds the pseudo-header sum, for the kernel to complete.
    const partial = (packet[ipHeader + 16] << 8) | packet[ipHeader + 17];
    assertEquals(partial, fold(pseudoHeaderSum(packet, 0, PROTO_TCP, packet.length - ipHeader)));
    assertEquals(split(writes[0]), segments);
  });

  Deno.test(`coalescer (${family}): a gap, a reorder or a retransmission is not joined`, () => {
    const a = tcpSegment({ v4, seq: 0, payload: 1000 });
    const c = tcpSegment({ v4, seq: 2000, payload: 1000 });
    const b = tcpSegment({ v4, seq: 1000, payload: 1000 });
    const { writes, joined } = coalesce([a, c, b, b].map((s) => withPeer(s)));
    assertEquals(joined, 0);
    assertEquals(writes.map((w) => w.subarray(VNET_HDR_BYTES)), [a, c, b, b], "order kept");
    for (const write of writes) assertEquals(readVnetHeader(write).gsoType, GSO_NONE);
  });
}

Deno.test("coalescer: never across peers, flows, acks, options or TOS; order kept", () => {
  const peerA = {}, peerB = {};
  const first = tcpSegment({ seq: 0, payload: 1000 });
  const cases: [string, Uint8Array, unknown][] = [
    ["another peer", tcpSegment({ seq: 1000, payload: 1000 }), peerB],
    ["another flow", tcpSegment({ seq: 1000, payload: 1000, srcPort: 5001 }), peerA],
    ["another ack", tcpSegment({ seq: 1000, payload: 1000, ack: 778 }), peerA],
    [
      "other options",
      tcpSegment({ seq: 1000, payload: 1000, options: [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2] }),
      peerA,
    ],
    ["another TOS (ECN mark)", tcpSegment({ seq: 1000, payload: 1000, tos: 3 }), peerA],
    ["a bad checksum", tcpSegment({ seq: 1000, payload: 1000, badChecksum: true }), peerA],
    ["a larger segment", tcpSegment({ seq: 1000, payload: 1001 }), peerA],
  ];
  for (const [what, second, peer] of cases) {
    const { writes, joined } = coalesce([withPeer(first, peerA), withPeer(second, peer)]);
    assertEquals(joined, 0, what);
    assertEquals(writes.map((w) => w.subarray(VNET_HDR_BYTES)), [first, second], what);
  }
});

Deno.test("coalescer: SYN, FIN, RST, URG, IPv4 options and fragments go alone", () => {
  const alone = [
    tcpSegment({ seq: 1000, payload: 10, flags: ACK | 0x01 }),
    tcpSegment({ seq: 1000, payload: 10, flags: 0x02 }),
    tcpSegment({ seq: 1000, payload: 10, flags: ACK | 0x04 }),
    tcpSegment({ seq: 1000, payload: 10, flags: ACK | 0x20 }),
    tcpSegment({ seq: 1000, payload: 1000, ipOptions: true }),
    tcpSegment({ seq: 1000, payload: 1000, fragment: true }),
  ];
  for (const packet of alone) {
    const first = tcpSegment({ seq: 0, payload: 1000 });
    const { writes, joined } = coalesce([withPeer(first), withPeer(packet)]);
    assertEquals(joined, 0);
    assertEquals(writes.length, 2);
    assertEquals(writes[1].subarray(VNET_HDR_BYTES), packet);
    assertEquals(writes[1].subarray(0, VNET_HDR_BYTES), new Uint8Array(VNET_HDR_BYTES));
  }
});

Deno.test("coalescer: a short segment or PSH ends the super-packet; 64 KB is the most", () => {
  const short = coalesce([
    tcpSegment({ seq: 0, payload: 1000 }),
    tcpSegment({ seq: 1000, payload: 400 }),
    tcpSegment({ seq: 1400, payload: 400 }),
  ].map((s) => withPeer(s)));
  assertEquals(short.writes.length, 2);
  assertEquals(short.joined, 2);
  const pushed = coalesce([
    tcpSegment({ seq: 0, payload: 1000, flags: ACK | PSH }),
    tcpSegment({ seq: 1000, payload: 1000 }),
  ].map((s) => withPeer(s)));
  assertEquals(pushed.writes.length, 2);
  const many = [];
  for (let i = 0; i < 100; i++) many.push(tcpSegment({ seq: i * 1400, payload: 1400, id: i }));
  const big = coalesce(many.map((s) => withPeer(s)));
  for (const write of big.writes) assert(write.length - VNET_HDR_BYTES <= 65535, "within 64 KB");
  assertEquals(big.writes.flatMap(split), many, "every segment comes back, in order");
});

Deno.test("coalescer: packets that are no TCP go alone with a zero header", () => {
  const icmp = new Uint8Array(84);
  icmp[0] = 0x45;
  icmp[2] = 0;
  icmp[3] = 84;
  icmp[9] = 1;
  const tcp = tcpSegment({ seq: 0, payload: 1000 });
  const { writes } = coalesce([withPeer(tcp), withPeer(icmp), withPeer(tcp)]);
  assertEquals(writes.map((w) => w.subarray(VNET_HDR_BYTES)), [tcp, icmp, tcp]);
  for (const write of writes) {
    assertEquals(write.subarray(0, VNET_HDR_BYTES), new Uint8Array(VNET_HDR_BYTES));
  }
});

Deno.test("splitter: completes a partial checksum, drops offloads it did not offer", () => {
  // A UDP packet as the kernel hands it with NEEDS_CSUM: the field holds the pseudo-header sum.
  const udp = new Uint8Array(20 + 8 + 33);
  udp[0] = 0x45;
  udp[3] = udp.length;
  udp[8] = 64;
  udp[9] = PROTO_UDP;
  udp.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  setIpv4HeaderChecksum(udp, 0);
  udp[21] = 53;
  udp[23] = 99;
  udp[25] = 41;
  for (let i = 28; i < udp.length; i++) udp[i] = i * 3;
  const partial = fold(pseudoHeaderSum(udp, 0, PROTO_UDP, 41));
  udp[26] = partial >> 8;
  udp[27] = partial & 0xff;
  const splitter = new SuperPacketSplitter();
  writeVnetHeader(splitter.buffer, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: GSO_NONE,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: 20,
    csumOffset: 6,
  });
  splitter.buffer.set(udp, VNET_HDR_BYTES);
  assert(splitter.load(VNET_HDR_BYTES + udp.length));
  const out = new Uint8Array(2000);
  const length = splitter.next(out);
  assertEquals(length, udp.length);
  assert(transportChecksumValid(out, 0, 20, length, PROTO_UDP), "UDP checksum completed");
  assertEquals(splitter.next(out), 0);

  // UDP segmentation (never offered), a truncated TCP header, a zero gso_size: dropped.
  const tcp = tcpSegment({ seq: 0, payload: 3000 });
  for (
    const [gsoType, gsoSize, cut] of [[5, 1000, 0], [GSO_TCPV4, 1000, tcp.length - 30], [
      GSO_TCPV4,
      0,
      0,
    ]]
  ) {
    writeVnetHeader(splitter.buffer, {
      flags: VNET_F_NEEDS_CSUM,
      gsoType,
      hdrLen: 52,
      gsoSize,
      csumStart: 20,
      csumOffset: 16,
    });
    const bytes = cut ? tcp.subarray(0, 30) : tcp;
    splitter.buffer.set(bytes, VNET_HDR_BYTES);
    assertEquals(splitter.load(VNET_HDR_BYTES + bytes.length), false, `gso ${gsoType}/${gsoSize}`);
    assertEquals(splitter.next(out), 0);
  }
});
