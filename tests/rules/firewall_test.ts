// The compiled firewall checked against a slow, obviously right matcher on random rule lists and
// addresses, plus the documented edge cases (ties, sequence 0, empty lists, mapped IPv4).
import { assert, assertEquals, assertThrows } from "../_support/assert.ts";
import {
  compileFirewall,
  firewallAllows,
  type FirewallRuleInput,
} from "../../src/protocol/firewall.ts";
import { parseIp } from "../../src/net/ip.ts";

// Reference: sort a copy stably by sequence, walk it bit by bit.
function naiveAllows(rules: FirewallRuleInput[], address: Uint8Array): boolean {
  const ordered = rules.map((rule, index) => ({ rule, index })).sort((a, b) =>
    (a.rule.sequence ?? 0) - (b.rule.sequence ?? 0) || a.index - b.index
  ).map((entry) => entry.rule);
  for (const rule of ordered) {
    const [text, bitsText] = rule.network.split("/");
    const network = parseIp(text)!;
    const bits = bitsText === undefined ? network.length * 8 : Number(bitsText);
    if (network.length !== address.length) continue;
    let inside = true;
    for (let bit = 0; bit < bits; bit++) {
      const mask = 0x80 >> (bit % 8);
      if ((network[bit >> 3] & mask) !== (address[bit >> 3] & mask)) {
        inside = false;
        break;
      }
    }
    if (inside) return rule.action === "allow";
  }
  return !rules.some((rule) => rule.action === "allow");
}

function random(n: number): number {
  return Math.floor(Math.random() * n);
}

// Addresses from a small pool so rules and clients overlap often.
function randomAddress(v6: boolean): Uint8Array {
  if (!v6) return new Uint8Array([10, random(3), random(4), random(256)]);
  const out = new Uint8Array(16);
  out[0] = 0xfd;
  out[1] = random(3);
  out[15] = random(256);
  return out;
}

function formatNetwork(bytes: Uint8Array, bits: number): string {
  if (bytes.length === 4) return `${bytes.join(".")}/${bits}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `${words.join(":")}/${bits}`;
}

Deno.test("compileFirewall() agrees with a naive matcher on random rules and clients", () => {
  for (let round = 0; round < 400; round++) {
    const rules: FirewallRuleInput[] = [];
    const count = random(6);
    for (let i = 0; i < count; i++) {
      const v6 = random(4) === 0;
      const bytes = randomAddress(v6);
      const bits = v6 ? [8, 16, 120, 128][random(4)] : [0, 8, 16, 24, 30, 32][random(6)];
      rules.push({
        sequence: random(3) === 0 ? undefined : random(4),
        action: random(2) === 0 ? "allow" : "drop",
        network: formatNetwork(bytes, bits),
      });
    }
    const check = compileFirewall(rules);
    for (let probe = 0; probe < 50; probe++) {
      const address = randomAddress(random(4) === 0);
      assertEquals(
        check(address),
        naiveAllows(rules, address),
        `${JSON.stringify(rules)} for ${address.join(".")}`,
      );
    }
  }
});

Deno.test("compileFirewall() keeps array order for equal sequences and lets the first match win", () => {
  const check = compileFirewall([
    { sequence: 2, action: "allow", network: "10.0.0.0/8" },
    { sequence: 1, action: "drop", network: "10.1.0.0/16" },
    { sequence: 1, action: "allow", network: "10.1.2.0/24" },
  ]);
  assertEquals(firewallAllows(check, "10.1.2.3"), false, "sequence 1 drop comes first");
  assertEquals(firewallAllows(check, "10.2.0.1"), true);
  assertEquals(firewallAllows(check, "192.0.2.1"), false, "a list with allow drops the rest");
});

Deno.test("compileFirewall() allows everything for an empty or drop-only list", () => {
  assertEquals(firewallAllows(compileFirewall([]), "192.0.2.1"), true);
  assertEquals(firewallAllows(compileFirewall(null), "2001:db8::1"), true);
  const dropOnly = compileFirewall([{ sequence: 0, action: "drop", network: "71.1.2.3/32" }]);
  assertEquals(firewallAllows(dropOnly, "71.1.2.3"), false);
  assertEquals(firewallAllows(dropOnly, "71.1.2.4"), true);
});

Deno.test("compileFirewall() treats an IPv4-mapped IPv6 client as its IPv4 address", () => {
  const check = compileFirewall([{ sequence: 1, action: "allow", network: "71.1.2.3/32" }]);
  assertEquals(firewallAllows(check, "::ffff:71.1.2.3"), true);
  assertEquals(firewallAllows(check, "::ffff:71.1.2.4"), false);
  assertEquals(firewallAllows(check, "not an address"), false);
});

Deno.test("compileFirewall() refuses a network it cannot parse", () => {
  const error = assertThrows(
    () => compileFirewall([{ action: "allow", network: "71.1.2.300/32" }]),
    TypeError,
  );
  assert(error.message.includes("71.1.2.300"));
});
