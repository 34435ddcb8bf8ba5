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

Deno.test("parseRequestHost() answers 400 to every framing the agent would refuse", () => {
  const cases: [string, string][] = [
    [
      "POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
      "both Content-Length and Transfer-Encoding",
    ],
    [
      "POST / HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
      "both Content-Length and Transfer-Encoding",
    ],
    ["POST / HTTP/1.0\r\nHost: a.com\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"],
    ["POST / HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: gzip\r\n\r\n", "chunked"],
    ["POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 1, 2\r\n\r\n", "Content-Length"],
    ["POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: +5\r\n\r\n", "Content-Length"],
    ["GET / HTTP/1.1\nHost: a.com\n\n", "CRLF"],
    ["GET / HTTP/1.1\r\nHost: a.com\n\r\n", "CRLF"],
    ["GET / HTTP/1.1\r\nHost: a.com\r\n folded\r\n\r\n", "header"],
    ["GET / HTTP/1.1\r\nHost : a.com\r\n\r\n", "header"],
    ["get / HTTP/1.1\r\nHost: a.com\r\n\r\n", ""],
    ["POST / HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: gzip,\vchunked\r\n\r\n", "Transfer"],
    ["POST / HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: ,\r\n\r\n", "chunked"],
  ];
  for (const [head, reason] of cases) {
    const result = parseRequestHost(bytes(head));
    assert(result.kind === "invalid", `${JSON.stringify(head)}: ${JSON.stringify(result)}`);
    assertEquals(result.status, 400);
    assert(result.reason.includes(reason), `${JSON.stringify(head)}: ${result.reason}`);
  }
  // A bare LF is refused before the head ends: nothing to wait for.
  assertEquals(parseRequestHost(bytes("GET / HTTP/1.1\nHost: a.com\n")).kind, "invalid");
  // Well-formed bodies pass: a length, or chunks.
  for (
    const head of [
      "POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 4\r\n\r\nbody",
      "POST / HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n",
      "POST / HTTP/1.1\r\nHost: a.com\r\nTransfer-Encoding: gzip , ,\tchunked\r\n\r\n",
    ]
  ) {
    assertEquals(parseRequestHost(bytes(head)).kind, "found", head);
  }
});
