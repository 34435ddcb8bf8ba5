// The rule schemas: the spec's examples pass unchanged, every documented bad input is refused
// with a message naming the offending object.
import { assertEquals, assertStringIncludes, assertThrows } from "../_support/assert.ts";
import {
  parseTrafficKeys,
  parseTrafficRules,
  publicHttpsRule,
  RuleError,
} from "../../src/protocol/mod.ts";
import { SPEC_PORTMAP, SPEC_PORTS, SPEC_SITE } from "./_spec_examples.ts";

Deno.test("parseTrafficRules() keeps the spec's examples exactly as written", () => {
  const rules = parseTrafficRules({
    https: [SPEC_SITE],
    ports: SPEC_PORTS,
    portmaps: [SPEC_PORTMAP],
  });
  assertEquals(rules.https, [SPEC_SITE]);
  assertEquals(rules.ports, SPEC_PORTS);
  assertEquals(rules.portmaps, [SPEC_PORTMAP]);
  assertEquals(parseTrafficRules({ https: [], ports: [], portmaps: [] }), {
    https: [],
    ports: [],
    portmaps: [],
  });
});

Deno.test("parseTrafficRules() refuses bad objects and names them", () => {
  const cases: [unknown, string][] = [
    [{ https: [{ ...SPEC_SITE, domain: "bad_domain" }] }, "https[0] (bad_domain)"],
    [{ https: [SPEC_SITE, { ...SPEC_SITE, domain: "x.example.com", port: 70000 }] }, "https[1]"],
    [{ ports: [{ port: 0, destination: "127.0.0.1", dstPort: 22 }] }, "ports[0] (0)"],
    [{ ports: [{ port: 22872, destination: "127.0.0.1", dstPort: 65536 }] }, "ports[0] (22872)"],
    [{
      ports: [{
        port: 22872,
        destination: "127.0.0.1",
        dstPort: 22,
        firewall: [{ sequence: 1, action: "allow", network: "1.2.3.4/33" }],
      }],
    }, "network"],
    [{
      https: [{ ...SPEC_SITE, firewall: [{ sequence: 1, action: "permit", network: "1.2.3.4" }] }],
    }, "action"],
    [{ https: [SPEC_SITE, { ...SPEC_SITE, domain: "API-TEST-1.spokes.domain.com" }] }, "twice"],
    [{ https: [{ ...SPEC_SITE, extra: 1 }] }, "unknown field"],
    [{ portmaps: [{ port: 15001, dstPort: 22132, transport: "sctp" }] }, "portmaps[0] (15001)"],
    [{ https: [{ domain: "only.example.com" }] }, "needs destination"],
    [{ https: "nope" }, "https must be an array"],
    [{ other: [] }, "unknown field"],
    [[], "JSON object"],
  ];
  for (const [body, expected] of cases) {
    const error = assertThrows(() => parseTrafficRules(body), RuleError);
    assertEquals(error.kind, "invalid");
    assertStringIncludes(error.message, expected);
  }
});

Deno.test("parseTrafficKeys() needs only the keys and refuses a missing key", () => {
  assertEquals(
    parseTrafficKeys({
      https: [{ domain: "A.example.com" }],
      ports: [{ port: 22872, destination: "x" }],
      portmaps: [{ port: 15001 }],
    }),
    { https: ["a.example.com"], ports: [22872], portmaps: [15001] },
  );
  assertStringIncludes(
    assertThrows(() => parseTrafficKeys({ ports: [{ destination: "x" }] }), RuleError).message,
    "ports[0]",
  );
});

Deno.test("publicHttpsRule() leaves the private key out", () => {
  const [rule] = parseTrafficRules({
    https: [{ domain: "a.example.com", webRoot: "/srv", ca: "CERT", privateKey: "KEY" }],
  }).https;
  assertEquals("privateKey" in publicHttpsRule(rule), false);
  assertEquals(publicHttpsRule(rule).ca, "CERT");
});
