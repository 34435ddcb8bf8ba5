// Issue #13 item 4: a flood of mac1-valid initiations with junk mixed between them must put the
// device under load (cookie replies instead of Diffie-Hellman), while a legitimate peer's data
// keeps flowing and its handshake still completes through a cookie. In process, over the memory
// fakes and a fake clock: no timing.

import { assert, assertEquals } from "../_support/assert.ts";
import {
  INITIATION_BYTES,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_TRANSPORT,
} from "../../src/crypto/mod.ts";
import { CookieGenerator } from "../../src/crypto/cookie.ts";
import {
  HANDSHAKE_QUEUE_CAPACITY,
  HandshakeQueue,
  UNDER_LOAD_DEPTH,
  UNDER_LOAD_HOLD_MS,
} from "../../src/tun/handshake_queue.ts";
import { icmpEcho, icmpEchoReplyTo, readIcmpEcho } from "../_support/ip_packets.ts";
import {
  type MemoryDevice,
  PAIR,
  pump,
  RECEIVE_BATCH,
  twoMemoryDevices,
} from "../_support/memory_device.ts";
import type { MemoryUdpSocket } from "../_support/memory_udp.ts";

const { a: A, b: B, innerA: INNER_A, innerB: INNER_B } = PAIR;
const ATTACKER = { address: "203.0.113.9", port: 4000 };
const FLOOD_INITIATIONS = 600;
const JUNK_PER_INITIATION = 5;

/** A and B (PAIR) and an attacker's socket on their network. */
function setup() {
  const devices = twoMemoryDevices();
  return { ...devices, attacker: devices.network.bind(ATTACKER) };
}

/** Junk of every kind a flood mixes in: wrong sizes of handshake types, unknown transport, noise. */
function junk(i: number): Uint8Array {
  const kinds = [
    () => crypto.getRandomValues(new Uint8Array(100)), // foreign noise
    () => { // an initiation's type with the wrong size
      const bytes = crypto.getRandomValues(new Uint8Array(INITIATION_BYTES - 1));
      bytes.set([MESSAGE_INITIATION, 0, 0, 0]);
      return bytes;
    },
    () => { // transport data under an index nobody holds
      const bytes = crypto.getRandomValues(new Uint8Array(64));
      bytes.set([MESSAGE_TRANSPORT, 0, 0, 0]);
      return bytes;
    },
  ];
  return kinds[i % kinds.length]();
}

/**
 * Sends FLOOD_INITIATIONS initiations to `b` with a valid mac1 (random bodies: each costs the
 * responder a Diffie-Hellman unless it is under load), junk between them.
 */
function flood(attacker: MemoryUdpSocket, b: MemoryDevice, now: number): void {
  const macs = new CookieGenerator(b.publicKey);
  let junkSent = 0;
  for (let i = 0; i < FLOOD_INITIATIONS; i++) {
    for (let j = 0; j < JUNK_PER_INITIATION; j++) attacker.send(B, junk(junkSent++));
    const initiation = crypto.getRandomValues(new Uint8Array(INITIATION_BYTES));
    initiation.set([MESSAGE_INITIATION, 0, 0, 0]);
    macs.addMacs(initiation, now);
    attacker.send(B, initiation);
  }
}

function pingRequest(sequence: number): Uint8Array {
  return icmpEcho({ source: INNER_A, destination: INNER_B, kind: "request", id: 7, sequence });
}

Deno.test("a flood of mac1-valid initiations mixed with junk is answered with cookies while a peer's pings pass", () => {
  const { network, a, b, attacker } = setup();
  a.tun.inject(pingRequest(1));
  pump(a, b);
  assertEquals(readIcmpEcho(b.tun.take()!)?.sequence, 1, "the session is up before the flood");

  flood(attacker, b, b.clock.now);
  a.tun.inject(pingRequest(2));
  a.step(); // the ping's datagram waits in B's socket behind the whole flood
  let rounds = 0;
  while (b.tun.delivered.length === 0 && rounds++ < 1000) b.step();
  const request = readIcmpEcho(b.tun.take()!);
  assertEquals(request?.sequence, 2, "the ping crossed during the flood");
  assert(
    rounds <= Math.ceil((FLOOD_INITIATIONS * (1 + JUNK_PER_INITIATION) + 1) / RECEIVE_BATCH),
    `the ping waited ${rounds} rounds: only for the datagrams read before it`,
  );
  assert(b.engine.underLoad, "the queue's depth put the device under load");
  b.tun.inject(icmpEchoReplyTo(request!));
  pump(a, b);
  assertEquals(readIcmpEcho(a.tun.take()!)?.sequence, 2, "the reply came back");
  assertEquals(b.engine.handshakes.depth, 0, "every queued handshake message ran");

  const cookies =
    network.log.filter((d) =>
      d.to.address === ATTACKER.address && d.data[0] === MESSAGE_COOKIE_REPLY
    ).length;
  assert(
    cookies >= FLOOD_INITIATIONS * 0.8,
    `${cookies} of ${FLOOD_INITIATIONS} initiations were answered with a cookie`,
  );
});

Deno.test("during a flood a peer without a session completes its handshake through a cookie", () => {
  const { clock, network, a, b, attacker } = setup();
  flood(attacker, b, clock.now);
  while (!b.engine.underLoad) b.step();
  a.tun.inject(pingRequest(1)); // no session: A's initiation queues behind the flood
  pump(a, b);
  assertEquals(b.tun.delivered.length, 0, "under load the first initiation only gets a cookie");
  const cookiesToA = () =>
    network.log.filter((d) => d.to.port === A.port && d.data[0] === MESSAGE_COOKIE_REPLY).length;
  assertEquals(cookiesToA(), 1);

  clock.now += 5_500; // A retransmits after REKEY_TIMEOUT (and jitter), now with mac2
  flood(attacker, b, clock.now);
  while (!b.engine.underLoad) b.step();
  a.tick();
  pump(a, b);
  assertEquals(readIcmpEcho(b.tun.take()!)?.sequence, 1, "the staged ping arrived");
  assertEquals(cookiesToA(), 1, "the retransmit carried a valid mac2");
});

Deno.test("the handshake queue is under load from 1/8 depth, held 1 s, and while arrivals go on", () => {
  const queue = new HandshakeQueue();
  const message = new Uint8Array(INITIATION_BYTES);
  const fill = (count: number) => {
    for (let i = 0; i < count; i++) queue.push(message, ATTACKER);
  };
  const drain = () => {
    while (queue.shift()) { /* taken */ }
  };
  fill(UNDER_LOAD_DEPTH - 1);
  assert(!queue.underLoad(0), "below an eighth of the capacity: calm");
  fill(1);
  assert(queue.underLoad(0), "at an eighth: under load");
  drain();
  assert(queue.underLoad(UNDER_LOAD_HOLD_MS - 1), "held after the queue emptied");
  fill(UNDER_LOAD_DEPTH); // the flood goes on, answered as fast as it comes
  drain();
  assert(queue.underLoad(UNDER_LOAD_HOLD_MS), "a second of arrivals extends the hold");
  assert(queue.underLoad(2 * UNDER_LOAD_HOLD_MS - 1));
  assert(!queue.underLoad(2 * UNDER_LOAD_HOLD_MS), "a quiet second ends it");
  fill(HANDSHAKE_QUEUE_CAPACITY + 1);
  assertEquals(queue.depth, HANDSHAKE_QUEUE_CAPACITY);
  assertEquals(queue.dropped, 1, "beyond the capacity messages are dropped");
});
