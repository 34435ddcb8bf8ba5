import { assertEquals, assertMatch, assertThrows } from "../_support/assert.ts";
import { AllowedIps } from "../../src/crypto/allowed_ips.ts";
import { type Cidr, cidrContains, parseCidr, parseIp } from "../../src/net/ip.ts";

Deno.test("AllowedIps picks the longest matching prefix for IPv4 and IPv6", () => {
  const table = new AllowedIps<string>();
  table.insert("0.0.0.0/0", "default");
  table.insert("10.0.0.0/8", "ten");
  table.insert("10.1.0.0/16", "ten-one");
  table.insert("10.1.2.3/32", "host");
  table.insert("::/0", "v6-default");
  table.insert("fd00::/8", "ula");
  table.insert("fd00:1::/32", "ula-1");
  assertEquals(table.lookup(parseIp("10.1.2.3")!), "host");
  assertEquals(table.lookup(parseIp("10.1.2.4")!), "ten-one");
  assertEquals(table.lookup(parseIp("10.2.0.1")!), "ten");
  assertEquals(table.lookup(parseIp("192.168.0.1")!), "default");
  assertEquals(table.lookup(parseIp("fd00:1::5")!), "ula-1");
  assertEquals(table.lookup(parseIp("fd00:2::5")!), "ula");
  assertEquals(table.lookup(parseIp("2001:db8::1")!), "v6-default");
  assertEquals(table.lookup(new Uint8Array(5)), undefined);
});

Deno.test("AllowedIps removes networks by owner and exactly, pruning the trie", () => {
  const table = new AllowedIps<string>();
  table.insert("10.0.0.0/8", "a");
  table.insert("10.1.0.0/16", "b");
  table.insert("fd00::/8", "b");
  table.removeByPeer("b");
  assertEquals(table.lookup(parseIp("10.1.0.1")!), "a");
  assertEquals(table.lookup(parseIp("fd00::1")!), undefined);
  assertEquals(table.entries(), [{ cidr: "10.0.0.0/8", value: "a" }]);
  assertEquals(table.remove("10.0.0.0/8"), true);
  assertEquals(table.remove("10.0.0.0/8"), false);
  assertEquals(table.lookup(parseIp("10.1.0.1")!), undefined);
});

Deno.test("AllowedIps re-inserting a network moves it to the new owner and masks host bits", () => {
  const table = new AllowedIps<string>();
  table.insert("10.0.0.77/24", "a");
  table.insert({ bytes: parseIp("10.0.0.0")!, bits: 24 }, "b");
  assertEquals(table.entries(), [{ cidr: "10.0.0.0/24", value: "b" }]);
});

Deno.test("AllowedIps.insert() refuses what is not a network with a TypeError", () => {
  const table = new AllowedIps<string>();
  for (const bad of ["10.0.0.0/33", "nonsense", "fd00::/129", ""]) {
    const error = assertThrows(() => table.insert(bad, "x"), TypeError);
    assertMatch(error.message, /^Cannot insert allowed IP: .*received/);
  }
});

Deno.test("AllowedIps agrees with a naive longest-prefix matcher on random v4 and v6 input", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  for (const family of [4, 16]) {
    const table = new AllowedIps<number>();
    const naive: Array<{ cidr: Cidr; value: number }> = [];
    // Cluster prefixes under a few bases so lookups hit many nested networks.
    const bases = [randomBytes(family), randomBytes(family), randomBytes(family)];
    for (let i = 0; i < 300; i++) {
      const bytes = rand() < 0.7 ? bases[i % 3].slice() : randomBytes(family);
      for (let j = Math.floor(rand() * family); j < family; j++) {
        bytes[j] = Math.floor(rand() * 256);
      }
      const bits = Math.floor(rand() * (family * 8 + 1));
      const cidr = parseCidr(`${formatAny(bytes)}/${bits}`)!;
      table.insert(cidr, i);
      const existing = naive.findIndex((e) =>
        e.cidr.bits === cidr.bits && e.cidr.bytes.every((b, k) => b === cidr.bytes[k])
      );
      if (existing >= 0) naive.splice(existing, 1);
      naive.push({ cidr, value: i });
      if (rand() < 0.1) {
        const victim = naive.splice(Math.floor(rand() * naive.length), 1)[0];
        table.remove(victim.cidr);
      }
    }
    for (let i = 0; i < 3000; i++) {
      const ip = rand() < 0.7 ? bases[i % 3].slice() : randomBytes(family);
      for (let j = Math.floor(rand() * family); j < family; j++) ip[j] = Math.floor(rand() * 256);
      let best: { cidr: Cidr; value: number } | undefined;
      for (const entry of naive) {
        if (cidrContains(entry.cidr, ip) && (!best || entry.cidr.bits > best.cidr.bits)) {
          best = entry;
        }
      }
      assertEquals(table.lookup(ip), best?.value, `lookup of ${formatAny(ip)}`);
      const packet = new Uint8Array(family + 10);
      packet.set(ip, 10);
      assertEquals(table.lookupAt(packet, 10, family), best?.value);
    }
  }
});

function formatAny(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const words = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return words.join(":");
}
