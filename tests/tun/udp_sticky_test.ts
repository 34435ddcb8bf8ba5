// The pktinfo bookkeeping of source-address stickiness (src/tun/udp_sticky.ts), without sockets:
// control messages as the kernel writes them in, the source per remote endpoint out.

import { assertEquals } from "../_support/assert.ts";
import { StickySources } from "../../src/tun/udp_sticky.ts";

/** A control message buffer holding one cmsg of `level`/`type` with `data`. */
function cmsg(level: number, type: number, data: number[]): Uint8Array {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(16 + data.length), true);
  view.setInt32(8, level, true);
  view.setInt32(12, type, true);
  bytes.set(data, 16);
  return bytes;
}

const inPktinfo = (local: number[]) => [2, 0, 0, 0, ...local, 0, 0, 0, 0];
const in6Pktinfo = (local: number[]) => [...local, 3, 0, 0, 0];

Deno.test("stickiness: IP_PKTINFO gives the source, shared by equal endpoints", () => {
  const sources = new StickySources();
  const from = { address: "10.0.0.3", port: 51820 };
  assertEquals(sources.sourceOf(from), null, "routing chooses until a datagram came in");
  sources.remember(from, cmsg(0, 8, inPktinfo([10, 0, 0, 2])), 0, 28);
  const source = sources.sourceOf({ address: "10.0.0.3", port: 51820 });
  assertEquals([...source!.address.subarray(0, source!.length)], [10, 0, 0, 2]);
  sources.forget(from);
  assertEquals(sources.sourceOf(from), null, "forgotten once the kernel refused it");
});

Deno.test("stickiness: IPV6_PKTINFO gives the source; other messages are skipped", () => {
  const sources = new StickySources();
  const from = { address: "fd00:aa::3", port: 1 };
  const local = [0xfd, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
  sources.remember(from, cmsg(41, 50, in6Pktinfo(local)), 0, 36);
  assertEquals([...sources.sourceOf(from)!.address.subarray(0, 16)], local);
  const other = { address: "10.0.0.9", port: 2 };
  sources.remember(other, cmsg(1, 99, [1, 2, 3, 4]), 0, 20);
  assertEquals(sources.sourceOf(other), null);
});
