// The hub relay's routing table: handshakes routed by mac1 to an allowed partner only, indexes
// claimed by their sender and never taken over, data only between partners, access removal
// dropping at once, and indexes restored after a restart.

import { assertEquals } from "../_support/assert.ts";
import { type RelayIndex, type RelayPeers, RelaySessions } from "../../src/hub/relay_sessions.ts";
import { mac1Key } from "../../src/crypto/mod.ts";
import { mac } from "../../src/crypto/mod.ts";
import { generatePrivateKey, keyToBase64, publicKeyOf } from "../../src/curve25519/mod.ts";

const newKey = () => publicKeyOf(generatePrivateKey());
const A = newKey(), S = newKey(), C2 = newKey();
const [a, s, c2] = [A, S, C2].map(keyToBase64);
const ADDR: Record<string, string> = {
  [a]: "192.0.2.1:40000",
  [s]: "192.0.2.2:40001",
  [c2]: "192.0.2.3:40002",
};

function peersView(pairs: [string, string][]): RelayPeers & { pairs: [string, string][] } {
  const view = {
    pairs,
    keyAt: (address: string) => Object.keys(ADDR).find((k) => ADDR[k] === address) ?? null,
    addressOf: (key: string) => ADDR[key] ?? null,
    partnersOf: (key: string) =>
      new Set(view.pairs.flatMap(([x, y]) => x === key ? [y] : y === key ? [x] : [])),
  };
  return view;
}

function le32(value: number): number[] {
  return [value & 255, (value >> 8) & 255, (value >> 16) & 255, (value >>> 24) & 255];
}

/** A handshake-shaped message with a correct mac1 for `responder` (the rest is noise). */
function handshake(
  type: 1 | 2,
  length: number,
  sender: number,
  receiver: number,
  responder: Uint8Array,
) {
  const message = crypto.getRandomValues(new Uint8Array(length));
  message.set([type, 0, 0, 0, ...le32(sender)]);
  if (type === 2) message.set(le32(receiver), 8);
  const end = length - 32;
  message.set(mac(mac1Key(responder), message.subarray(0, end)), end);
  return message;
}

function transport(receiver: number, length = 64): Uint8Array {
  const message = new Uint8Array(length);
  message.set([4, 0, 0, 0, ...le32(receiver)]);
  return message;
}

Deno.test("relay: a handshake finds its responder by mac1; data flows only between partners", () => {
  const view = peersView([[a, s]]);
  const learned: RelayIndex[] = [];
  const relay = new RelaySessions(view, { learned: (e) => learned.push({ ...e }) });
  // 1. A initiates to S (index 0x11111111 is A's).
  assertEquals(relay.route(handshake(1, 148, 0x11111111, 0, S), ADDR[a]), ADDR[s]);
  // A handshake for a key that is not A's partner goes nowhere.
  assertEquals(relay.route(handshake(1, 148, 0x11111112, 0, C2), ADDR[a]), null);
  // 2. S answers to A's index with mac1 for A; S's index is 0x22222222.
  assertEquals(relay.route(handshake(2, 92, 0x22222222, 0x11111111, A), ADDR[s]), ADDR[a]);
  // A response whose mac1 is not for the index's owner is dropped.
  assertEquals(relay.route(handshake(2, 92, 0x22222223, 0x11111111, C2), ADDR[s]), null);
  // 3. Data both ways.
  assertEquals(relay.route(transport(0x22222222), ADDR[a]), ADDR[s]);
  assertEquals(relay.route(transport(0x11111111), ADDR[s]), ADDR[a]);
  // 4. Another agent cannot send into either index, nor initiate to S.
  assertEquals(relay.route(transport(0x22222222), ADDR[c2]), null);
  assertEquals(relay.route(handshake(1, 148, 0x33333333, 0, S), ADDR[c2]), null);
  // Unknown sources and broken datagrams are dropped.
  assertEquals(relay.route(transport(0x22222222), "198.51.100.9:1"), null);
  assertEquals(relay.route(transport(0x22222222, 20), ADDR[a]), null);
  assertEquals(relay.route(new Uint8Array([4, 1, 0, 0, 0x22, 0x22, 0x22, 0x22]), ADDR[a]), null);
  assertEquals(learned.map((e) => [e.index, e.owner, e.partner]), [
    [0x11111111, a, s],
    [0x22222222, s, a],
  ]);

  // 5. A restarted relay restores the indexes and keeps relaying.
  const restarted = new RelaySessions(view);
  restarted.restore(learned);
  assertEquals(restarted.route(transport(0x22222222), ADDR[a]), ADDR[s]);

  // 6. Access removed: nothing more passes, even on live indexes.
  view.pairs = [];
  assertEquals(relay.route(transport(0x22222222), ADDR[a]), null);
  assertEquals(relay.route(transport(0x11111111), ADDR[s]), null);
});

Deno.test("relay: an index in use is never taken over by another agent", () => {
  const view = peersView([[a, s], [c2, s]]);
  const relay = new RelaySessions(view);
  assertEquals(relay.route(handshake(1, 148, 0x44444444, 0, S), ADDR[a]), ADDR[s]);
  // C2 (also a partner of S) tries to claim A's index: refused.
  assertEquals(relay.route(handshake(1, 148, 0x44444444, 0, S), ADDR[c2]), null);
  assertEquals(relay.route(handshake(2, 92, 0x55555555, 0x44444444, A), ADDR[s]), ADDR[a]);
  // Data for A's index still goes to A, and only S may send it.
  assertEquals(relay.route(transport(0x44444444), ADDR[s]), ADDR[a]);
  assertEquals(relay.route(transport(0x44444444), ADDR[c2]), null);
});

Deno.test("relay: indexes expire after five idle minutes", () => {
  let now = 1_000_000;
  const relay = new RelaySessions(peersView([[a, s]]), { now: () => now });
  relay.route(handshake(1, 148, 0x66666666, 0, S), ADDR[a]);
  relay.route(handshake(2, 92, 0x77777777, 0x66666666, A), ADDR[s]);
  now += 4 * 60_000;
  assertEquals(relay.route(transport(0x77777777), ADDR[a]), ADDR[s]);
  now += 5 * 60_000 + 1;
  assertEquals(relay.route(transport(0x77777777), ADDR[a]), null);
  relay.sweep();
  assertEquals(relay.size, 0);
});
