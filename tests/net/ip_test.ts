import { assertEquals } from "../_support/assert.ts";
import {
  cidrContains,
  formatCidr,
  formatIp,
  joinHostPort,
  parseCidr,
  parseHostPort,
  parseIp,
} from "../../src/net/ip.ts";

Deno.test("parseIp() reads IPv4 and IPv6 forms and refuses malformed ones", () => {
  assertEquals(parseIp("10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assertEquals(formatIp(parseIp("fd00::1")!), "fd00::1");
  assertEquals(formatIp(parseIp("::")!), "::");
  assertEquals(formatIp(parseIp("::ffff:1.2.3.4")!), "::ffff:102:304");
  assertEquals(formatIp(parseIp("2001:db8:0:0:1:0:0:1")!), "2001:db8::1:0:0:1");
  for (
    const bad of [
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1::2::3",
      "12345::",
      "nope",
      "",
      "1.2.3.4.5",
      "::1.2.3",
    ]
  ) {
    assertEquals(parseIp(bad), null, bad);
  }
});

Deno.test("parseCidr() masks host bits and refuses prefixes longer than the family", () => {
  assertEquals(formatCidr(parseCidr("100.89.130.7/20")!), "100.89.128.0/20");
  assertEquals(formatCidr(parseCidr("fd00::1234/64")!), "fd00::/64");
  assertEquals(formatCidr(parseCidr("1.2.3.4")!), "1.2.3.4/32");
  assertEquals(parseCidr("1.2.3.4/33"), null);
  assertEquals(parseCidr("::/129"), null);
  assertEquals(parseCidr("1.2.3.4/x"), null);
});

Deno.test("cidrContains() matches only addresses of the same family inside the network", () => {
  const net = parseCidr("192.168.1.0/24")!;
  assertEquals(cidrContains(net, parseIp("192.168.1.200")!), true);
  assertEquals(cidrContains(net, parseIp("192.168.2.1")!), false);
  assertEquals(cidrContains(net, parseIp("::1")!), false);
  assertEquals(cidrContains(parseCidr("0.0.0.0/0")!, parseIp("8.8.8.8")!), true);
});

Deno.test("parseHostPort() splits names, IPv4 and bracketed IPv6 and checks the port", () => {
  assertEquals(parseHostPort("localhost:80"), { host: "localhost", port: 80 });
  assertEquals(parseHostPort("[::1]:4100"), { host: "::1", port: 4100 });
  assertEquals(parseHostPort(":9452"), { host: "", port: 9452 });
  assertEquals(parseHostPort("nope"), null);
  assertEquals(parseHostPort("a:70000"), null);
  assertEquals(parseHostPort("[zz]:1"), null);
  assertEquals(joinHostPort("::1", 5), "[::1]:5");
  assertEquals(joinHostPort("1.2.3.4", 5), "1.2.3.4:5");
});
