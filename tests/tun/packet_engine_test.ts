// Two devices' engines in one process over the in-memory TUN and UDP fakes (tests/_support):
// ping through a handshake, rekey after REKEY_AFTER_TIME on a fake clock, roaming, and the
// foreign-datagram hook. No root, no FFI, no Workers.

import { assert, assertEquals } from "../_support/assert.ts";
import { MESSAGE_INITIATION, REKEY_AFTER_TIME_MS } from "../../src/crypto/mod.ts";
import { FOREIGN_BURST, FOREIGN_MAX_BYTES, ForeignGate } from "../../src/tun/foreign_gate.ts";
import { icmpEcho, icmpEchoReplyTo, readIcmpEcho } from "../_support/ip_packets.ts";
import {
  advance,
  type MemoryDevice,
  PAIR,
  pump,
  twoMemoryDevices,
} from "../_support/memory_device.ts";
import type { MemoryNetwork } from "../_support/memory_udp.ts";

const { a: A, innerA: INNER_A, innerB: INNER_B } = PAIR;
const twoDevices = twoMemoryDevices;

/** A pings B once; B plays the kernel and answers. Returns whether A got the reply. */
function ping(a: MemoryDevice, b: MemoryDevice, sequence: number): boolean {
  a.tun.inject(
    icmpEcho({ source: INNER_A, destination: INNER_B, kind: "request", id: 7, sequence }),
  );
  pump(a, b);
  const request = readIcmpEcho(b.tun.take() ?? new Uint8Array(0));
  if (!request || request.kind !== "request" || request.sequence !== sequence) return false;
  b.tun.inject(icmpEchoReplyTo(request));
  pump(a, b);
  const reply = readIcmpEcho(a.tun.take() ?? new Uint8Array(0));
  return reply?.kind === "reply" && reply.sequence === sequence && reply.source === INNER_B;
}

function initiations(network: MemoryNetwork, from: { address: string; port: number }): number {
  return network.log.filter((d) =>
    d.data[0] === MESSAGE_INITIATION && d.from.address === from.address && d.from.port === from.port
  ).length;
}

Deno.test("two in-memory engines ping each other through a handshake", () => {
  const { network, a, b } = twoDevices();
  assert(ping(a, b, 1), "first ping (after the handshake) is answered");
  assert(ping(a, b, 2), "second ping is answered on the same session");
  assertEquals(initiations(network, A), 1);
  const [peerOfB] = b.engine.wg.peers();
  assertEquals(peerOfB.endpoint, A);
  assert(peerOfB.lastHandshakeMs > 0);
  assertEquals(a.tun.delivered.length + b.tun.delivered.length, 0, "nothing else reached a TUN");
});

Deno.test("the initiator starts a new handshake once REKEY_AFTER_TIME of fake time has passed", () => {
  const { clock, network, a, b } = twoDevices();
  assert(ping(a, b, 1));
  assertEquals(initiations(network, A), 1);
  advance(clock, REKEY_AFTER_TIME_MS - 2000, [a, b]);
  assert(ping(a, b, 2));
  assertEquals(initiations(network, A), 1, "no rekey before REKEY_AFTER_TIME");
  const [peerOfA] = a.engine.wg.peers();
  const firstHandshakeMs = peerOfA.lastHandshakeMs;
  advance(clock, 3000, [a, b]);
  assert(ping(a, b, 3), "the packet goes out on the old session while the new one is made");
  assertEquals(initiations(network, A), 2, "one new handshake after REKEY_AFTER_TIME");
  assert(peerOfA.lastHandshakeMs > firstHandshakeMs, "the new handshake completed");
  assert(ping(a, b, 4), "traffic flows on the new session");
  assertEquals(initiations(network, A), 2);
});

Deno.test("a peer follows the other side to its new UDP address (roaming)", () => {
  const { network, a, b } = twoDevices();
  assert(ping(a, b, 1));
  const moved = { address: "203.0.113.9", port: 40000 };
  a.socket.rebind(moved);
  assert(ping(a, b, 2), "the reply reaches A at its new address");
  const [peerOfB] = b.engine.wg.peers();
  assertEquals(peerOfB.endpoint, moved);
  const last = network.log.at(-1)!;
  assertEquals(last.to, moved, "B's last datagram went to the new address");
});

Deno.test("foreign datagrams reach the hook within the gate's bounds; raw sends go out as they are", () => {
  const { network, a, b } = twoDevices();
  const probe = network.bind({ address: "192.0.2.50", port: 9999 });
  const request = new TextEncoder().encode("PANGOLIN_TEST_REQ12345678");
  for (let i = 0; i < FOREIGN_BURST + 10; i++) probe.send(A, request);
  probe.send(A, new Uint8Array(FOREIGN_MAX_BYTES + 1).fill(0x50));
  pump(a, b);
  assertEquals(a.foreign.length, FOREIGN_BURST, "a burst beyond the gate is dropped");
  assertEquals(a.foreign[0].data, request);
  assertEquals(a.foreign[0].from, { address: "192.0.2.50", port: 9999 });
  a.engine.sendDatagram(a.foreign[0].from, new TextEncoder().encode("PANGOLIN_TEST_RSP12345678"));
  assertEquals(new TextDecoder().decode(probe.inbox[0].data), "PANGOLIN_TEST_RSP12345678");
  assert(ping(a, b, 1), "WireGuard traffic is unaffected");
});

Deno.test("ForeignGate refills at its rate and refuses oversized datagrams", () => {
  const gate = new ForeignGate(2, 10, 100);
  assert(gate.admit(10, 0) && gate.admit(10, 0));
  assert(!gate.admit(10, 0), "burst spent");
  assert(!gate.admit(10, 50), "half a token after 50 ms at 10/s");
  assert(gate.admit(10, 100), "one token after 100 ms");
  assert(!gate.admit(101, 10_000), "too long");
  assertEquals(gate.dropped, 3);
});
