// Direct paths without the network: endpoint announcements (only the key's owner can seal one;
// replays and forgeries change nothing), the hub's registry and its choice of a direct
// endpoint (same NAT: the LAN address), and the path monitor's hysteresis on a fake clock.

import { assert, assertEquals } from "../_support/assert.ts";
import {
  looksLikeAnnouncement,
  openAnnouncement,
  sealAnnouncement,
} from "../../src/protocol/endpoint_announce.ts";
import { directEndpoint, EndpointRegistry } from "../../src/hub/endpoint_registry.ts";
import { PathMonitor } from "../../src/agent/path_monitor.ts";
import { generatePrivateKey, keyToBase64, publicKeyOf } from "../../src/curve25519/mod.ts";

const hubKey = generatePrivateKey(),
  agentKey = generatePrivateKey(),
  otherKey = generatePrivateKey();
const hubPublic = publicKeyOf(hubKey);
const agent = keyToBase64(publicKeyOf(agentKey));

Deno.test("announce: sealed by the key's owner for the hub; anything else opens to nothing", () => {
  const datagram = sealAnnouncement(agentKey, hubPublic, {
    timestampMs: 1000,
    local: ["192.168.1.5:40000"],
  });
  assert(looksLikeAnnouncement(datagram));
  assert(datagram[0] > 4, "never mistaken for a WireGuard message");
  const opened = openAnnouncement(datagram, hubKey)!;
  assertEquals(keyToBase64(opened.publicKey), agent);
  assertEquals([opened.timestampMs, opened.local], [1000, ["192.168.1.5:40000"]]);
  // Another hub cannot open it; a flipped bit fails; a swapped key (a forgery) fails.
  assertEquals(openAnnouncement(datagram, generatePrivateKey()), null);
  const flipped = datagram.slice();
  flipped[flipped.length - 1] ^= 1;
  assertEquals(openAnnouncement(flipped, hubKey), null);
  const forged = sealAnnouncement(otherKey, hubPublic, { timestampMs: 2000, local: [] });
  forged.set(publicKeyOf(agentKey), 10); // claims to be the agent, sealed by another key
  assertEquals(openAnnouncement(forged, hubKey), null);
});

Deno.test("registry: learns the mapping from the source; refuses replays, skew, strangers", () => {
  let now = 1_000_000;
  const registry = new EndpointRegistry({
    hubPrivateKey: hubKey,
    isAgent: (key) => key === agent,
    now: () => now,
  });
  const seal = (key: Uint8Array, t: number, local: string[] = []) =>
    sealAnnouncement(key, hubPublic, { timestampMs: t, local });
  const first = seal(agentKey, now, ["10.0.0.2:51000", "junk"]);
  assertEquals(registry.accept(first, "203.0.113.7:61000"), { publicKey: agent, changed: true });
  assertEquals(registry.get(agent)?.public, "203.0.113.7:61000");
  assertEquals(registry.get(agent)?.local, ["10.0.0.2:51000"]);
  assertEquals(registry.keyAt("203.0.113.7:61000"), agent);
  // The same datagram again (a replay from elsewhere) changes nothing.
  assertEquals(registry.accept(first, "198.51.100.1:1"), null);
  assertEquals(registry.get(agent)?.public, "203.0.113.7:61000");
  // Far from the hub's clock, or a key the hub does not know: refused.
  assertEquals(registry.accept(seal(agentKey, now + 3_600_000), "198.51.100.1:1"), null);
  assertEquals(registry.accept(seal(otherKey, now + 1), "198.51.100.1:1"), null);
  // A newer announcement from a new mapping (the NAT changed it): learned.
  now += 5000;
  assertEquals(registry.accept(seal(agentKey, now, ["10.0.0.2:51000"]), "203.0.113.7:62000"), {
    publicKey: agent,
    changed: true,
  });
  now += 4 * 60_000;
  assertEquals(registry.get(agent), undefined, "silent too long");
  assert(registry.sweep());
});

Deno.test("direct endpoint: the public mapping, or the LAN address behind the same NAT", () => {
  const a = { public: "203.0.113.7:61000", local: ["10.0.0.2:51000"], seenAt: 0 };
  const b = { public: "198.51.100.9:40000", local: ["10.1.0.3:52000"], seenAt: 0 };
  const c = { public: "203.0.113.7:61500", local: ["10.0.0.3:53000"], seenAt: 0 };
  assertEquals(directEndpoint(a, b), "198.51.100.9:40000");
  assertEquals(directEndpoint(a, c), "10.0.0.3:53000");
  // A site on two networks behind the same NAT: the one the client shares.
  const site = {
    public: "203.0.113.7:62000",
    local: ["10.20.0.1:54000", "10.0.0.9:54000"],
    seenAt: 0,
  };
  assertEquals(directEndpoint(a, site), "10.0.0.9:54000");
  assertEquals(directEndpoint(a, undefined), null);
  assertEquals(directEndpoint(undefined, b), "198.51.100.9:40000");
});

Deno.test("path monitor: relayed until the direct path answers; back to the relay after 3 misses", () => {
  let now = 0;
  const monitor = new PathMonitor(now);
  const sent: number[] = [];
  const step = (ms: number, answer: boolean) => {
    const end = now + ms;
    const changes: string[] = [];
    for (; now <= end; now += 100) {
      const { probe, change } = monitor.poll(now);
      if (change) changes.push(change);
      if (probe !== null) {
        sent.push(now);
        if (answer) {
          const back = monitor.answered(probe, now + 5);
          if (back) changes.push(back);
        }
      }
    }
    return changes;
  };
  assertEquals(monitor.route, "relay");
  assertEquals(step(1000, true), ["direct"], "the quick test finds the direct path");
  assert(monitor.lastTestOk);
  // The path dies: relayed within 30 s, and never earlier than three misses.
  const died = now;
  const changes = step(30_000, false);
  assertEquals(changes, ["relay"]);
  assertEquals(monitor.route, "relay");
  assert(!monitor.lastTestOk);
  // It comes back: direct again, but not sooner than 10 s after moving to the relay.
  const back = step(20_000, true);
  assertEquals(back, ["direct"]);
  assert(died < now);
  // Probes back off while the path is good (no more than one every 15 s at the end).
  const before = sent.length;
  step(60_000, true);
  assert(sent.length - before <= 8, `${sent.length - before} probes in a minute`);
});

Deno.test("path monitor: a path that flaps does not flap the route", () => {
  let now = 0;
  const monitor = new PathMonitor(now, { rapidProbes: 0 });
  const changes: string[] = [];
  let answer = true;
  for (; now < 120_000; now += 100) {
    if (now % 5000 === 0) answer = !answer; // up 5 s, down 5 s
    const { probe, change } = monitor.poll(now);
    if (change) changes.push(change);
    if (probe !== null && answer) {
      const moved = monitor.answered(probe, now + 5);
      if (moved) changes.push(moved);
    }
  }
  assert(changes.length <= 4, `route changed ${changes.length} times: ${changes.join(",")}`);
});

Deno.test("path monitor: a path that never answered probes in turns, the two sides apart", () => {
  const round = 40_000, offset = 2000, start = 1_000_000;
  const probesOf = (side: "client" | "site") => {
    let now = start; // not a round's start: turns follow the wall clock
    const monitor = new PathMonitor(now, {}, side);
    const sent: number[] = [];
    for (; now < start + 6 * round; now += 100) {
      if (monitor.poll(now).probe !== null) sent.push(now);
    }
    return { monitor, sent };
  };
  for (const side of ["client", "site"] as const) {
    const { monitor, sent } = probesOf(side);
    assert(monitor.inTurns);
    // The quick test and the 2 s probes (8 misses), then one probe a round in its slot.
    const quick = sent.filter((at) => at < start + 10_000);
    const turns = sent.filter((at) => at >= start + 10_000);
    assertEquals(quick.length, 8, `${side}: the quick test and three 2 s probes`);
    assert(turns.length >= 5, `${side}: ${turns.length} turns`);
    for (const [i, at] of turns.entries()) {
      const first = (Math.floor(at / round) % 2 === 0) === (side === "client");
      assertEquals(at % round, first ? 0 : offset, `${side} probed at ${at}`);
      if (i > 0) assert(at - turns[i - 1] <= round + offset, `${side}: a turn every round`);
    }
  }
  // The other side's probe got through: the quick test again, at once.
  const { monitor } = probesOf("site");
  const now = start + 6 * round + 50;
  monitor.peerReachedUs(now);
  assert(!monitor.inTurns);
  assert(monitor.poll(now).probe !== null);
});

Deno.test("path monitor: a path that worked once is never probed in turns", () => {
  let now = 0;
  const monitor = new PathMonitor(now);
  for (let answered = false; now < 2000; now += 100) {
    const { probe } = monitor.poll(now);
    if (probe !== null && !answered) answered = monitor.answered(probe, now + 5) !== undefined;
  }
  const sent: number[] = [];
  for (; now < 120_000; now += 100) if (monitor.poll(now).probe !== null) sent.push(now);
  assert(!monitor.inTurns);
  assertEquals(monitor.route, "relay");
  for (let i = 1; i < sent.length; i++) assert(sent[i] - sent[i - 1] <= 2000, "a probe every 2 s");
});
