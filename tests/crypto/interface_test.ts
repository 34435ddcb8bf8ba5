import { assert, assertEquals, assertMatch, assertThrows } from "../_support/assert.ts";
import {
  KEEPALIVE_TIMEOUT_MS,
  REJECT_AFTER_TIME_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME_MS,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
  WgInterface,
  ZERO_KEYS_AFTER_MS,
} from "../../src/crypto/mod.ts";
import { createNativeTransportAead } from "../../src/crypto/aead_native.ts";
import {
  COUNTER_LIMIT,
  readCounter,
  REKEY_COUNTER_LIMIT,
} from "../../src/crypto/transport_session.ts";
import {
  deliver,
  ENDPOINT_A,
  ENDPOINT_B,
  ipv4,
  ipv6,
  makePair,
  type Side,
  take,
  tickAll,
} from "./_pair.ts";

const OUT = () => new Uint8Array(2048);

/** A completes a handshake with B by sending `packet`; returns what B's TUN got. */
function handshake(
  pair: ReturnType<typeof makePair>,
  now: number,
  packet = ipv4("10.0.0.1", "10.0.0.2"),
) {
  const out = OUT();
  const step = pair.a.wg.encapsulate(packet, out, now);
  assertEquals(step.action, "toNetwork");
  assertEquals(step.length, 148);
  assertEquals(out[0], 1);
  assertEquals(step.endpoint, ENDPOINT_B);
  const tun = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  deliver(take(step, out), pair.a, pair.b, now, tun, pair);
  return tun;
}

function send(from: Side, to: Side, packet: Uint8Array, now: number) {
  const out = OUT();
  const step = from.wg.encapsulate(packet, out, now);
  assertEquals(step.action, "toNetwork", `encapsulate: ${step.error}`);
  const datagram = take(step, out);
  const back = OUT();
  const received = to.wg.decapsulate(datagram, from.endpoint, back, now);
  return { datagram, received, plain: back.slice(0, received.length) };
}

for (const aeadName of ["noble", "native"]) {
  Deno.test(`two interfaces complete a handshake and carry IPv4 and IPv6 both ways (${aeadName} AEAD)`, () => {
    const aead = aeadName === "native" ? createNativeTransportAead() : undefined;
    const pair = makePair({ aead, psk: new Uint8Array(32).fill(7) });
    const first = ipv4("10.0.0.1", "10.0.0.2", 100);
    const tun = handshake(pair, 1000, first);
    assertEquals(tun.b.length, 1);
    assertEquals(tun.b[0], first);
    assertEquals(pair.a.peer.lastHandshakeMs, 1000);
    assertEquals(pair.b.peer.lastHandshakeMs, 1000); // promoted on the first transport packet
    assertEquals(pair.a.peer.txBytes, 148 + 16 + 128 + 16);
    assertEquals(pair.b.peer.rxBytes, pair.a.peer.txBytes);
    for (
      const [from, to, packet] of [
        [pair.b, pair.a, ipv4("10.0.0.2", "10.0.0.1", 1400)],
        [pair.a, pair.b, ipv6(1, 2, 33)],
        [pair.b, pair.a, ipv6(2, 1, 0)],
      ] as const
    ) {
      const { datagram, received, plain } = send(from, to, packet, 1001);
      assertEquals(received.action, "toTunnel");
      assertEquals(plain, packet);
      assertEquals(
        (datagram.length - 32) % 16 === 0 || datagram.length - 32 === packet.length,
        true,
      );
      assertEquals(received.peer, to === pair.a ? pair.a.peer : pair.b.peer);
    }
  });
}

Deno.test("padding never grows a packet beyond the MTU", () => {
  const pair = makePair();
  handshake(pair, 0);
  pair.a.wg.mtu = 1420;
  const { datagram } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2", 1400), 1);
  assertEquals(datagram.length, 1420 + 32);
  const small = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2", 1), 2);
  assertEquals(small.datagram.length, 32 + 32);
});

Deno.test("the responder keeps the new session as next until the first transport packet arrives", () => {
  const pair = makePair();
  const out = OUT();
  const init = pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0);
  const responseStep = pair.b.wg.decapsulate(take(init, out), ENDPOINT_A, out, 0);
  assertEquals(responseStep.action, "toNetwork");
  assertEquals(responseStep.length, 92);
  assertEquals(responseStep.endpoint, ENDPOINT_A);
  const response = take(responseStep, out);
  assertEquals(pair.b.peer.current, null);
  assert(pair.b.peer.next !== null);
  // B cannot send yet: its packet is staged (and, as in wireguard-go, it tries an initiation).
  const bOut = OUT();
  pair.b.wg.encapsulate(ipv4("10.0.0.2", "10.0.0.1"), bOut, 0);
  assert(bOut[0] !== 4);
  assertEquals(pair.b.peer.staged.length, 1);
  const confirm = pair.a.wg.decapsulate(response, ENDPOINT_B, out, 0);
  assertEquals(confirm.action, "toNetwork");
  const got = pair.b.wg.decapsulate(take(confirm, out), ENDPOINT_A, out, 0);
  assertEquals(got.action, "toTunnel");
  assert(pair.b.peer.current !== null);
  assertEquals(pair.b.peer.next, null);
  // Now B's staged packet flushes.
  const flushed = pair.b.wg.flush(pair.b.peer, out, 0);
  assertEquals(flushed.action, "toNetwork");
  assertEquals(out[0], 4);
});

Deno.test("under load a handshake gets a cookie reply, then succeeds with mac2 on retransmit", () => {
  const pair = makePair();
  pair.b.wg.setUnderLoad(true);
  const out = OUT();
  const init = pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0);
  const reply = pair.b.wg.decapsulate(take(init, out), ENDPOINT_A, out, 0);
  assertEquals(reply.action, "toNetwork");
  assertEquals(reply.length, 64);
  assertEquals(out[0], 3);
  assertEquals(reply.endpoint, ENDPOINT_A);
  assertEquals(reply.peer, null);
  const consumed = pair.a.wg.decapsulate(take(reply, out), ENDPOINT_B, out, 0);
  assertEquals(consumed.action, "done");
  // The retransmission carries mac2 and is answered.
  const retry = tickAll(pair.a, REKEY_TIMEOUT_MS + REKEY_TIMEOUT_JITTER_MAX_MS);
  assertEquals(retry.length, 1);
  assertEquals(retry[0].length, 148);
  const answer = pair.b.wg.decapsulate(retry[0], ENDPOINT_A, out, 6000);
  assertEquals(answer.action, "toNetwork");
  assertEquals(answer.length, 92);
  // A forged cookie reply is refused.
  const forged = new Uint8Array(64);
  forged[0] = 3;
  assertEquals(pair.a.wg.decapsulate(forged, ENDPOINT_B, out, 0).action, "error");
});

Deno.test("a replayed initiation is refused by its TAI64N timestamp, a flood by its rate", () => {
  const pair = makePair();
  const out = OUT();
  const init = take(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0), out);
  assertEquals(pair.b.wg.decapsulate(init, ENDPOINT_A, out, 100).action, "toNetwork");
  const replay = pair.b.wg.decapsulate(init, ENDPOINT_A, out, 200);
  assertEquals(replay.action, "error");
  assertEquals(replay.error, "InvalidTimestamp");
  // A genuinely newer initiation right after the last one is a flood.
  pair.advanceWall(1000);
  const second = tickAll(pair.a, 6000)[0];
  const flood = pair.b.wg.decapsulate(second, ENDPOINT_A, out, 110);
  assertEquals(flood.error, "FloodedInitiation");
  assertEquals(pair.b.wg.decapsulate(second, ENDPOINT_A, out, 200).action, "toNetwork");
});

Deno.test("a replayed transport packet is refused as a duplicate counter", () => {
  const pair = makePair();
  handshake(pair, 0);
  const { datagram, received } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 1);
  assertEquals(received.action, "toTunnel");
  const again = pair.b.wg.decapsulate(datagram, ENDPOINT_A, OUT(), 2);
  assertEquals(again.action, "error");
  assertEquals(again.error, "DuplicateCounter");
  // A tampered packet is refused by its tag and does not burn the counter.
  const { datagram: next } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 3);
  const later = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 3);
  assertEquals(later.received.action, "toTunnel");
  const bad = next.slice();
  bad[bad.length - 1] ^= 1;
  assertEquals(pair.b.wg.decapsulate(bad, ENDPOINT_A, OUT(), 4).error, "DuplicateCounter");
});

Deno.test("out-of-order transport packets within the window are all delivered once", () => {
  const pair = makePair();
  handshake(pair, 0);
  const out = OUT();
  const datagrams: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) {
    const step = pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2", i), out, 1);
    datagrams.push(take(step, out));
  }
  datagrams.reverse();
  for (const d of datagrams) {
    assertEquals(pair.b.wg.decapsulate(d, ENDPOINT_A, out, 2).action, "toTunnel");
  }
  for (const d of datagrams) {
    assertEquals(pair.b.wg.decapsulate(d, ENDPOINT_A, out, 2).error, "DuplicateCounter");
  }
});

Deno.test("the initiator rekeys after REKEY_AFTER_TIME when sending; the responder does not", () => {
  const pair = makePair();
  handshake(pair, 0);
  const late = REKEY_AFTER_TIME_MS + 1;
  const { received } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), late);
  assertEquals(received.action, "toTunnel"); // the old session still works
  assertEquals(pair.a.wg.nextDeadline(), 0);
  pair.advanceWall(late); // the TAI64N timestamp must be newer than the first handshake's
  const initiations = tickAll(pair.a, late);
  assertEquals(initiations.length, 1);
  assertEquals(initiations[0][0], 1);
  // The responder sends on an old session without starting a handshake.
  send(pair.b, pair.a, ipv4("10.0.0.2", "10.0.0.1"), late);
  assertEquals(tickAll(pair.b, late).length, 0);
  // Completing the rekey moves the old session to previous; packets under it still open.
  const old = send(pair.b, pair.a, ipv4("10.0.0.2", "10.0.0.1"), late).datagram;
  const oldCurrent = pair.a.peer.current;
  deliver(initiations[0], pair.a, pair.b, late);
  assert(pair.a.peer.current !== oldCurrent);
  assertEquals(pair.a.peer.previous, oldCurrent);
  void old;
});

Deno.test("after REJECT_AFTER_TIME a session no longer sends or receives, and a handshake starts", () => {
  const pair = makePair();
  handshake(pair, 0);
  const { datagram } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 10);
  const out = OUT();
  const step = pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, REJECT_AFTER_TIME_MS);
  assertEquals(step.action, "toNetwork");
  assertEquals(out[0], 1); // an initiation, the packet is staged
  const stale = pair.b.wg.decapsulate(datagram, ENDPOINT_A, out, REJECT_AFTER_TIME_MS);
  assertEquals(stale.error, "ExpiredSession");
});

Deno.test("the initiator starts a handshake on receive when its session nears REJECT_AFTER_TIME", () => {
  const pair = makePair();
  handshake(pair, 0);
  const when = REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS + 1;
  const { received } = send(pair.b, pair.a, ipv4("10.0.0.2", "10.0.0.1"), when);
  assertEquals(received.action, "toTunnel");
  assertEquals(pair.a.wg.nextDeadline(), 0);
  assertEquals(tickAll(pair.a, when).map((d) => d[0]), [1]);
});

Deno.test("a passive keepalive answers received data after KEEPALIVE_TIMEOUT, unless data went back", () => {
  const pair = makePair();
  handshake(pair, 0); // the first packet carried data to B
  assertEquals(tickAll(pair.b, KEEPALIVE_TIMEOUT_MS - 1).length, 0);
  const keepalives = tickAll(pair.b, KEEPALIVE_TIMEOUT_MS);
  assertEquals(keepalives.map((d) => d.length), [32]);
  // A keepalive reaches no TUN.
  const got = pair.a.wg.decapsulate(keepalives[0], ENDPOINT_B, OUT(), KEEPALIVE_TIMEOUT_MS);
  assertEquals(got.action, "done");
  assertEquals(got.peer, pair.a.peer);
  send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 30_000);
  assertEquals(tickAll(pair.b, 30_000 + KEEPALIVE_TIMEOUT_MS - 1).length, 0);
  assertEquals(tickAll(pair.b, 30_000 + KEEPALIVE_TIMEOUT_MS).map((d) => d.length), [32]);
  // Data sent back in time cancels the keepalive.
  send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 50_000);
  send(pair.b, pair.a, ipv4("10.0.0.2", "10.0.0.1"), 51_000);
  assertEquals(tickAll(pair.b, 50_000 + KEEPALIVE_TIMEOUT_MS).length, 0);
});

Deno.test("persistent keepalive starts a handshake when switched on, then keeps the path warm", () => {
  const pair = makePair();
  pair.a.peer.persistentKeepaliveIntervalS = 25;
  assertEquals(pair.a.wg.nextDeadline() <= 0, true);
  const first = tickAll(pair.a, 0);
  assertEquals(first.length, 1);
  assertEquals(first[0][0], 1);
  deliver(first[0], pair.a, pair.b, 0);
  assert(pair.b.peer.current !== null); // the keepalive confirmed the session
  assertEquals(tickAll(pair.a, 24_999).length, 0);
  const warm = tickAll(pair.a, 25_000);
  assertEquals(warm.map((d) => d.length), [32]);
  pair.a.peer.persistentKeepaliveIntervalS = 0;
  assertEquals(tickAll(pair.a, 60_000).filter((d) => d.length === 32).length, 0);
});

Deno.test("unanswered initiations are retransmitted with jitter and given up after REKEY_ATTEMPT_TIME", () => {
  const pair = makePair();
  const out = OUT();
  const sentAt: number[] = [];
  assertEquals(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0).length, 148);
  sentAt.push(0);
  for (let now = 0; now <= 200_000; now += 1) {
    if (pair.a.wg.nextDeadline() > now) continue;
    for (const d of tickAll(pair.a, now)) if (d[0] === 1) sentAt.push(now);
  }
  assertEquals(sentAt.length, 20); // 1 + 19 retries, as wireguard-go
  const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]);
  for (const gap of gaps) {
    assert(
      gap >= REKEY_TIMEOUT_MS && gap < REKEY_TIMEOUT_MS + REKEY_TIMEOUT_JITTER_MAX_MS,
      `gap ${gap}`,
    );
  }
  assert(new Set(gaps).size > 1, "jitter varies");
  assertEquals(pair.a.peer.staged.length, 0); // dropped on giving up
});

Deno.test("key material is zeroed after three REJECT_AFTER_TIMEs without a new session", () => {
  const pair = makePair();
  handshake(pair, 0);
  const { datagram } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 1);
  assert(pair.b.peer.current !== null);
  tickAll(pair.b, ZERO_KEYS_AFTER_MS - 1);
  assert(pair.b.peer.current !== null);
  tickAll(pair.b, ZERO_KEYS_AFTER_MS);
  assertEquals(pair.b.peer.current, null);
  assertEquals(pair.b.peer.previous, null);
  assertEquals(
    pair.b.wg.decapsulate(datagram, ENDPOINT_A, OUT(), ZERO_KEYS_AFTER_MS).error,
    "UnknownIndex",
  );
});

Deno.test("an authenticated packet from a new address moves the peer's endpoint (roaming)", () => {
  const pair = makePair();
  handshake(pair, 0);
  const out = OUT();
  const step = pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 1);
  const datagram = take(step, out);
  const roamed = { address: "198.51.100.7", port: 4000 };
  // A forged copy from elsewhere does not move it.
  const forged = datagram.slice();
  forged[20] ^= 1;
  pair.b.wg.decapsulate(forged, { address: "203.0.113.9", port: 1 }, out, 1);
  assertEquals(pair.b.peer.endpoint, ENDPOINT_A);
  assertEquals(pair.b.wg.decapsulate(datagram, roamed, out, 1).action, "toTunnel");
  assertEquals(pair.b.peer.endpoint, roamed);
  const reply = pair.b.wg.encapsulate(ipv4("10.0.0.2", "10.0.0.1"), out, 2);
  assertEquals(reply.endpoint, roamed);
});

Deno.test("a decrypted packet whose source is not the peer's allowed IP is dropped", () => {
  const pair = makePair();
  handshake(pair, 0);
  const { received } = send(pair.a, pair.b, ipv4("10.0.0.99", "10.0.0.2"), 1);
  assertEquals(received.action, "error");
  assertEquals(received.error, "SourceNotAllowed");
  const v6 = send(pair.a, pair.b, ipv6(9, 2), 1);
  assertEquals(v6.received.error, "SourceNotAllowed");
});

Deno.test("encapsulate reports packets without a route or a key as errors", () => {
  const pair = makePair();
  const out = OUT();
  assertEquals(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.9.9.9"), out, 0).error, "NoRoute");
  assertEquals(pair.a.wg.encapsulate(new Uint8Array(3), out, 0).error, "InvalidMessage");
  pair.a.wg.setPrivateKey(null, 0);
  assertEquals(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0).error, "NoPrivateKey");
  pair.a.peer.endpoint = null;
  pair.a.wg.setPrivateKey(new Uint8Array(32).fill(3), 0);
  assertEquals(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0).error, "NoEndpoint");
});

Deno.test("caller bugs throw: a short out buffer is a RangeError, bad configuration a TypeError", () => {
  const pair = makePair();
  const throwsA = (
    kind: typeof RangeError | typeof TypeError,
    fn: () => unknown,
    pattern: RegExp,
  ) => assertMatch(assertThrows(fn, kind).message, pattern);
  throwsA(
    RangeError,
    () => pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), new Uint8Array(100), 0),
    /^Cannot encapsulate/,
  );
  throwsA(
    RangeError,
    () => pair.a.wg.decapsulate(new Uint8Array(200), ENDPOINT_B, new Uint8Array(150), 0),
    /^Cannot decapsulate/,
  );
  throwsA(
    TypeError,
    () => pair.a.wg.setPrivateKey(new Uint8Array(31), 0),
    /^Cannot set private key: .*received 31/,
  );
  throwsA(
    TypeError,
    () => pair.a.wg.upsertPeer(new Uint8Array(5), 0),
    /^Cannot add peer: .*received 5/,
  );
  throwsA(
    TypeError,
    () => pair.a.peer.persistentKeepaliveIntervalS = -1,
    /^Cannot set persistent keepalive/,
  );
  // deno-lint-ignore no-explicit-any
  throwsA(TypeError, () => new WgInterface({} as any), /^Cannot create WgInterface/);
});

Deno.test("removing a peer forgets its sessions, indexes and routes", () => {
  const pair = makePair();
  handshake(pair, 0);
  const { datagram } = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), 1);
  pair.b.wg.removePeer(pair.b.peer.publicKey);
  assertEquals(pair.b.wg.peer(pair.b.peer.publicKey), undefined);
  assertEquals(pair.b.wg.decapsulate(datagram, ENDPOINT_A, OUT(), 2).error, "UnknownIndex");
  assertEquals(pair.b.wg.encapsulate(ipv4("10.0.0.2", "10.0.0.1"), OUT(), 2).error, "NoRoute");
  assertEquals(pair.b.wg.nextDeadline(), Infinity);
});

/** Writes a 64-bit little-endian counter (high and low 32-bit halves) into a transport header. */
function rewriteCounter(datagram: Uint8Array, high: number, low: number): Uint8Array {
  const copy = datagram.slice();
  const view = new DataView(copy.buffer);
  view.setUint32(8, low, true);
  view.setUint32(12, high, true);
  return copy;
}

Deno.test("sending stops at the counter limit: the last counter goes out, then a handshake starts", () => {
  const pair = makePair();
  handshake(pair, 0);
  const session = pair.a.peer.current!;
  // Inject the counter just below the limit (2^53 - 1 here, REJECT_AFTER_MESSAGES in the spec).
  session.sendCounter = COUNTER_LIMIT - 1;
  const now = REKEY_TIMEOUT_MS + 1; // past the rate limit of our own initiations
  const last = send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), now);
  assertEquals(readCounter(last.datagram), COUNTER_LIMIT - 1);
  assertEquals(last.received.action, "toTunnel");
  assertEquals(session.sendCounter, COUNTER_LIMIT);
  // Nothing more under this session: the packet is staged and an initiation goes out instead.
  const out = OUT();
  const next = pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, now);
  assertEquals(next.action, "toNetwork");
  assertEquals(next.length, 148);
  assertEquals(out[0], 1);
  assertEquals(pair.a.peer.staged.length, 1);
  // The receiver refuses counters at or past the limit before any AEAD work, whatever the tag.
  for (const [high, low] of [[0x1fffff, 0xffffffff], [0x200000, 0], [0xffffffff, 0xffffffff]]) {
    const forged = rewriteCounter(last.datagram, high, low);
    assertEquals(pair.b.wg.decapsulate(forged, ENDPOINT_A, OUT(), now).error, "DuplicateCounter");
  }
});

Deno.test("the initiator's counter passing the rekey limit forces a rekey; the responder's does not", () => {
  assert(REKEY_COUNTER_LIMIT < COUNTER_LIMIT, "a rekey comes before sending stops");
  assert(REKEY_COUNTER_LIMIT <= REKEY_AFTER_MESSAGES);
  const pair = makePair();
  handshake(pair, 0);
  const now = REKEY_TIMEOUT_MS + 1; // young session: REKEY_AFTER_TIME is far off
  // Up to the limit itself, no rekey.
  pair.a.peer.current!.sendCounter = REKEY_COUNTER_LIMIT - 1;
  send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), now);
  assert(pair.a.wg.nextDeadline() > now, "no rekey at the limit");
  // One past it: the hot path asks for a handshake, and the next tick sends the initiation.
  send(pair.a, pair.b, ipv4("10.0.0.1", "10.0.0.2"), now);
  assertEquals(pair.a.wg.nextDeadline(), 0);
  const sent = tickAll(pair.a, now);
  assertEquals(sent.length, 1);
  assertEquals(sent[0][0], 1);
  // The responder past the same limit keeps its session and leaves rekeying to the initiator.
  pair.b.peer.current!.sendCounter = REKEY_COUNTER_LIMIT + 1;
  assertEquals(send(pair.b, pair.a, ipv4("10.0.0.2", "10.0.0.1"), now).received.action, "toTunnel");
  assert(pair.b.wg.nextDeadline() > now, "the responder does not rekey on messages");
});
