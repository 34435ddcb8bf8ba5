// The TUN offloads against the kernel itself: a TUN opened with IFF_VNET_HDR and TSO, moved into a
// namespace where a real TCP client (Deno) connects through it to a peer this test plays by hand.
// What the kernel hands over (super-packets, partial checksums) is cut by SuperPacketSplitter, and
// every segment is checked: IPv4 header and TCP checksums, lengths within the MTU, sequence
// numbers contiguous, flags, and the payload against what the client sent. The other way, segments
// joined by TcpCoalescer into one GSO write must reach the client whole. IPv4 and IPv6. A plain TUN
// (no IFF_VNET_HDR) negotiates "none", the fallback; `burrow wg` carries TCP both ways on a
// WG_TUN_FD its parent opened with IFF_VNET_HDR (as a newer wireguard-go does) and without.

import { assert, assertEquals } from "../_support/assert.ts";
import { Netns, netnsTest, run, stopProcess, uniqueSuffix, waitFor } from "../_support/netns.ts";
import { createBirthplace, pingOnce } from "./_birthplace.ts";
import { closeLibc, libc, POLLIN, sizeArg } from "../../src/tun/libc.ts";
import { closeFd, openTun } from "../../src/tun/tun.ts";
import { negotiateOffload } from "../../src/tun/tun_offload.ts";
import {
  GSO_NONE,
  readVnetHeader,
  SuperPacketSplitter,
  VNET_HDR_BYTES,
} from "../../src/tun/tso_split.ts";
import { TcpCoalescer } from "../../src/tun/tcp_coalesce.ts";
import { fold, PROTO_TCP, sumWords, transportChecksumValid } from "../../src/tun/checksum.ts";
import { tcpPacket } from "./_tcp_packets.ts";

const DENO = Deno.execPath();
const MTU = 1420;
/** The MSS our hand-played peer announces: small, so one flight is many segments. */
const PEER_MSS = 1000;
const CLIENT_BYTES = 200_000;
/** Bytes the test sends back as 40 joined segments. */
const REPLY_SEGMENTS = 40;
const REPLY_BYTES = REPLY_SEGMENTS * PEER_MSS;

function pattern(offset: number): number {
  return (offset * 7 + (offset >> 8)) & 0xff;
}

/** The client: connects, sends CLIENT_BYTES of the pattern, reads REPLY_BYTES, prints a digest. */
const CLIENT = `
  const [host] = Deno.args;
  const pattern = (o) => (o * 7 + (o >> 8)) & 0xff;
  const conn = await Deno.connect({ hostname: host, port: 5000 });
  const data = new Uint8Array(${CLIENT_BYTES});
  for (let i = 0; i < data.length; i++) data[i] = pattern(i);
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
  const buffer = new Uint8Array(65536);
  let got = 0, bad = 0;
  while (got < ${REPLY_BYTES}) {
    const n = await conn.read(buffer);
    if (n === null) break;
    for (let i = 0; i < n; i++) if (buffer[i] !== pattern(got + i)) bad++;
    got += n;
  }
  console.log(JSON.stringify({ got, bad }));
  conn.close();
`;

interface Flow {
  v4: boolean;
  client: Uint8Array; // address bytes
  peer: Uint8Array;
  clientPort: number;
  /** Next sequence number we expect from the client, and ours. */
  clientNext: number;
  peerNext: number;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** A TCP packet from the peer to the client with `payload`, checksums filled in. */
function peerPacket(flow: Flow, flags: number, payload: Uint8Array, options: number[] = []) {
  return tcpPacket({
    source: flow.peer,
    destination: flow.client,
    sourcePort: 5000,
    destinationPort: flow.clientPort,
    seq: flow.peerNext,
    ack: flow.clientNext,
    flags,
    options,
    payload,
  });
}

/** Reads one packet (header included) from the TUN, waiting up to `ms`. */
function readTun(fd: number, buffer: Uint8Array, ms: number): number {
  const pollFd = new Uint8Array(8);
  const view = new DataView(pollFd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  libc().poll(pollFd, 1n, ms);
  return libc().read(fd, buffer, sizeArg(buffer.length));
}

function writeTun(fd: number, packet: Uint8Array): void {
  const framed = new Uint8Array(VNET_HDR_BYTES + packet.length);
  framed.set(packet, VNET_HDR_BYTES);
  assertEquals(
    libc().write(fd, framed, sizeArg(framed.length)),
    framed.length,
    "the TUN takes the write",
  );
}

async function exercise(v4: boolean): Promise<void> {
  const ns = await Netns.create("btso");
  const name = `bto${uniqueSuffix()}`;
  const fd = openTun(name, true);
  let client: Deno.ChildProcess | null = null;
  try {
    assertEquals(negotiateOffload(fd), "tso", "the kernel takes checksum and TCP offloads");
    await run(["ip", "link", "set", name, "netns", ns.name]);
    await ns.exec(["ip", "link", "set", name, "mtu", String(MTU), "up"]);
    await ns.exec(["ip", "addr", "add", "10.77.0.1/24", "dev", name]);
    await ns.exec(["ip", "-6", "addr", "add", "fd77::1/64", "dev", name, "nodad"]);
    const peerHost = v4 ? "10.77.0.2" : "fd77::2";
    client = ns.spawn([DENO, "eval", "--quiet", CLIENT, peerHost], { stdout: "piped" });
    const output = client.output();

    const splitter = new SuperPacketSplitter();
    const segment = new Uint8Array(70_000);
    let flow: Flow | null = null;
    let received = 0;
    let superPackets = 0;
    let segments = 0;
    for (let turn = 0; turn < 2000 && received < CLIENT_BYTES; turn++) {
      const length = readTun(fd, splitter.buffer, 100);
      if (length <= 0) continue;
      const header = readVnetHeader(splitter.buffer);
      const packet = splitter.buffer.subarray(VNET_HDR_BYTES, length);
      if ((packet[0] >> 4) !== (v4 ? 4 : 6)) continue;
      const l4 = v4 ? 20 : 40;
      if ((v4 ? packet[9] : packet[6]) !== PROTO_TCP) continue; // router solicitations and such
      const flags = packet[l4 + 13];
      if ((flags & 0x02) !== 0) {
        // SYN: answer SYN-ACK with our MSS.
        flow = {
          v4,
          client: packet.slice(v4 ? 12 : 8, v4 ? 16 : 24),
          peer: packet.slice(v4 ? 16 : 24, v4 ? 20 : 40),
          clientPort: (packet[l4] << 8) | packet[l4 + 1],
          clientNext: (u32(packet, l4 + 4) + 1) >>> 0,
          peerNext: 0x10000000,
        };
        writeTun(
          fd,
          peerPacket(flow, 0x12, new Uint8Array(), [2, 4, PEER_MSS >> 8, PEER_MSS & 0xff]),
        );
        flow.peerNext++;
        continue;
      }
      if (!flow) continue;
      if (header.gsoType !== GSO_NONE) superPackets++;
      assert(splitter.load(length), "the splitter takes what the kernel hands over");
      for (let size = splitter.next(segment); size > 0; size = splitter.next(segment)) {
        const seg = segment.subarray(0, size);
        assert(size <= MTU, `segment of ${size} bytes within the MTU`);
        if (v4) {
          assertEquals(fold(sumWords(seg, 0, 20)), 0xffff, "IPv4 header checksum");
          assertEquals((seg[2] << 8) | seg[3], size, "IPv4 total length");
        } else {
          assertEquals(((seg[4] << 8) | seg[5]) + 40, size, "IPv6 payload length");
        }
        assert(transportChecksumValid(seg, 0, l4, size, PROTO_TCP), "TCP checksum");
        const headers = l4 + (seg[l4 + 12] >> 4) * 4;
        const payload = size - headers;
        if (payload === 0) continue; // a pure ACK or window update
        assertEquals(u32(seg, l4 + 4), flow.clientNext, "contiguous sequence numbers");
        assert(payload <= PEER_MSS, "no segment above the MSS");
        const offset = received;
        for (let i = 0; i < payload; i++) {
          if (seg[headers + i] !== pattern(offset + i)) {
            throw new Error(`payload byte ${offset + i} differs`);
          }
        }
        received += payload;
        flow.clientNext = (flow.clientNext + payload) >>> 0;
        segments++;
      }
      // Acknowledge what came, so the client's window moves on.
      writeTun(fd, peerPacket(flow, 0x10, new Uint8Array()));
    }
    assertEquals(received, CLIENT_BYTES, "every byte the client sent");
    assert(superPackets > 0, "the kernel handed over TCP super-packets");
    assert(segments > superPackets, "super-packets were cut into several segments");

    // The other way: 40 segments joined into GSO writes.
    const writes: number[] = [];
    const coalescer = new TcpCoalescer((bytes, length) => {
      writes.push(length);
      assertEquals(
        libc().write(fd, bytes, sizeArg(length)),
        length,
        "the TUN takes the joined write",
      );
    });
    const peer = {};
    for (let i = 0; i < REPLY_SEGMENTS; i++) {
      const payload = new Uint8Array(PEER_MSS);
      for (let j = 0; j < PEER_MSS; j++) payload[j] = pattern(i * PEER_MSS + j);
      const packet = peerPacket(flow!, i === REPLY_SEGMENTS - 1 ? 0x18 : 0x10, payload);
      coalescer.push(packet, packet.length, peer);
      flow!.peerNext += PEER_MSS;
    }
    coalescer.flush();
    assertEquals(coalescer.joined, REPLY_SEGMENTS, "every segment was joined");
    assert(writes.length < REPLY_SEGMENTS / 10, `${writes.length} writes for 40 segments`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([
      output,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 15_000)),
    ]);
    clearTimeout(timer);
    assert(done !== null, "the client finished");
    const result = JSON.parse(new TextDecoder().decode(done.stdout).trim());
    assertEquals(result, { got: REPLY_BYTES, bad: 0 }, "the client read the joined segments whole");
    client = null;
  } finally {
    if (client) await stopProcess(client);
    closeFd(fd);
    closeLibc();
    await ns.destroy();
  }
}

Deno.test(
  netnsTest("tun offloads: kernel TSO super-packets cut and joined, IPv4", () => exercise(true)),
);
Deno.test(
  netnsTest("tun offloads: kernel TSO super-packets cut and joined, IPv6", () => exercise(false)),
);

Deno.test(netnsTest("tun offloads: a TUN without IFF_VNET_HDR negotiates none", async () => {
  const fd = openTun(`btp${uniqueSuffix()}`, false);
  try {
    assertEquals(negotiateOffload(fd), "none");
  } finally {
    closeFd(fd);
    closeLibc();
  }
  await Promise.resolve();
}));

/** iperf3 TCP of `bytes` from `from` to `address` (in `to`); the bytes sent. */
async function tcpTransfer(from: Netns, to: Netns, address: string, bytes: number) {
  const server = to.spawn(["iperf3", "-s", "-1", "-B", address, "-p", "5202"]);
  try {
    await waitFor(
      "iperf3 to listen",
      async () => (await to.exec(["ss", "-tlnH", "sport = :5202"])).stdout.trim() !== "",
      10_000,
      50,
    );
    const result = await from.exec(
      ["iperf3", "-c", address, "-p", "5202", "-n", String(bytes), "-J"],
      { check: false },
    );
    assertEquals(result.code, 0, result.stdout.slice(0, 2000));
    // The client ends with code 0 only after the server acknowledged the end of the test; the
    // server's own count stops a little early, so the bytes sent are the figure to hold.
    return JSON.parse(result.stdout).end.sum_sent.bytes as number;
  } finally {
    await stopProcess(server, 2000);
  }
}

for (const tun of ["vnet", "plain"] as const) {
  Deno.test(
    netnsTest(
      `tun offloads: burrow wg on a WG_TUN_FD opened ${tun}; TCP both ways, inner IPv4 and IPv6`,
      async () => {
        const b = await createBirthplace("wireguard-go", { inheritedTun: tun });
        try {
          await pingOnce(b.one.ns, b.two.inner4);
          const bytes = 16 << 20;
          for (const [from, to] of [[b.one, b.two], [b.two, b.one]] as const) {
            for (const address of [to.inner4, to.inner6]) {
              const sent = await tcpTransfer(from.ns, to.ns, address, bytes);
              assert(sent >= bytes, `${from.ifname} -> ${address}: ${sent}`);
            }
          }
        } finally {
          await b.destroy();
        }
      },
    ),
  );
}
