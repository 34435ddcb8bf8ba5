// The hub's sniffing of a first request's Host (net/http1_head.ts); the agent's head parsing is
// tested with its body framing in tests/rules/http_wire_test.ts.
import { assert, assertEquals } from "../_support/assert.ts";
import { parseRequestHost } from "../../src/net/http1_head.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("parseRequestHost() reads Host, strips the port, and refuses bad heads", () => {
  assertEquals(parseRequestHost(bytes("GET / HTTP/1.1\r\nHost: A.example.com:8080\r\n\r\n")), {
    kind: "found",
    host: "a.example.com",
    path: "/",
  });
  assertEquals(
    parseRequestHost(bytes("GET / HTTP/1.1\r\nHost: a.example.com\r\n")).kind,
    "need-more",
  );
  assertEquals(
    parseRequestHost(bytes("GET http://b.example.com/x HTTP/1.1\r\nHost: a\r\n\r\n")),
    { kind: "found", host: "b.example.com", path: "/x" },
  );
  for (
    const bad of [
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a.com\r\nHost: b.com\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: bad_host!\r\n\r\n",
      "\x16\x03\x01garbage",
      "GET /\r\n\r\n",
    ]
  ) {
    const result = parseRequestHost(bytes(bad));
    assertEquals(result.kind, "invalid", JSON.stringify(bad));
  }
  const tooBig = parseRequestHost(bytes("GET / HTTP/1.1\r\nX: " + "a".repeat(20000)));
  assert(tooBig.kind === "invalid" && tooBig.status === 431);
});
