// HTTP/1.1 framing on raw streams and webRoot path resolution, without sockets.
import { assert, assertEquals, assertRejects, assertThrows } from "../_support/assert.ts";
import {
  BufferedReader,
  copyBody,
  requestFraming,
  responseFraming,
} from "../../src/rules/http_body.ts";
import {
  copyBuffers,
  encodeLatin1,
  HttpWireError,
  latin1,
  parseRequestHead,
  parseResponseHead,
} from "../../src/net/mod.ts";
import { contentTypeOf, parseRange, requestSegments } from "../../src/rules/static_files.ts";

/** A reader that hands out `text` in pieces of `step` bytes. */
function pieces(text: string, step: number) {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (offset >= bytes.length) return Promise.resolve(null);
      const n = Math.min(step, p.length, bytes.length - offset);
      p.set(bytes.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  };
}

function sink() {
  const chunks: Uint8Array[] = [];
  return {
    write(p: Uint8Array) {
      chunks.push(p.slice());
      return Promise.resolve(p.length);
    },
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
  };
}

Deno.test("BufferedReader finds heads split anywhere and copies chunked bodies verbatim", async () => {
  const message = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "4;ext=1\r\nWiki\r\n0\r\nTrailer: t\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  for (const step of [1, 2, 3, 7, 64, 100000]) {
    const reader = new BufferedReader(pieces(message, step));
    const head = parseRequestHead((await reader.readHead())!);
    assertEquals([head.method, head.target], ["POST", "/x"]);
    const out = sink();
    assertEquals(await copyBody(reader, out, requestFraming(head)), true);
    assertEquals(out.text(), "4;ext=1\r\nWiki\r\n0\r\nTrailer: t\r\n\r\n", `step ${step}`);
    assertEquals(parseRequestHead((await reader.readHead())!).target, "/next");
    assertEquals(await reader.readHead(), null);
  }
});

Deno.test("framing follows RFC 9112 and refuses smuggling shapes", () => {
  const req = (headers: string) => parseRequestHead(`GET / HTTP/1.1\r\nHost: a${headers}`);
  assertEquals(requestFraming(req("")), { kind: "none" });
  assertEquals(requestFraming(req("\r\nContent-Length: 5")), { kind: "length", length: 5 });
  assertThrows(
    () => requestFraming(req("\r\nContent-Length: 5\r\nContent-Length: 6")),
    HttpWireError,
  );
  assertThrows(() => requestFraming(req("\r\nContent-Length: -1")), HttpWireError);
  assertThrows(() => requestFraming(req("\r\nTransfer-Encoding: gzip")), HttpWireError);
  // RFC 9112 section 6.3 lets a server drop Content-Length or refuse: burrow refuses.
  assertThrows(
    () => requestFraming(req("\r\nTransfer-Encoding: chunked\r\nContent-Length: 3")),
    HttpWireError,
    "both Content-Length and Transfer-Encoding",
  );
  assertThrows(
    () =>
      requestFraming(parseRequestHead("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked")),
    HttpWireError,
    "HTTP/1.0",
  );
  assertThrows(() => requestFraming(req("\r\nTransfer-Encoding: chunked, chunked")), HttpWireError);
  assertThrows(
    () => requestFraming(req("\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip")),
    HttpWireError,
  );
  assertEquals(
    requestFraming(req("\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked")),
    { kind: "chunked" },
  );
  // An answer may carry both: chunked wins and the length is not trusted.
  assertEquals(
    responseFraming(
      "GET",
      parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"),
    ),
    { kind: "chunked" },
  );
  const res = parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 10");
  assertEquals(responseFraming("HEAD", res), { kind: "none" });
  assertEquals(responseFraming("GET", res), { kind: "length", length: 10 });
  assertEquals(responseFraming("GET", parseResponseHead("HTTP/1.1 304 Not Modified")), {
    kind: "none",
  });
  assertEquals(responseFraming("GET", parseResponseHead("HTTP/1.0 200 OK")), { kind: "close" });
  for (const bad of ["GET / HTTP/2.0", "GET  / HTTP/1.1", "GET / HTTP/1.1\r\nBad Header: x"]) {
    assertThrows(() => parseRequestHead(bad), HttpWireError, undefined);
  }
});

Deno.test("copyBody() fails on a body cut short", async () => {
  const reader = new BufferedReader(pieces("abc", 2));
  await assertRejects(
    () => copyBody(reader, sink(), { kind: "length", length: 5 }),
    HttpWireError,
  );
});

Deno.test("copyBody() takes a large body past the buffered bytes without growing the reader", async () => {
  // 200 KiB in 50 KiB pieces behind a head: the reader's small buffer holds the head and what
  // came with it; the rest is read straight into a pooled buffer, which goes back to the pool.
  const body = "0123456789abcdef".repeat(200 * 64);
  const reader = new BufferedReader(pieces(`HTTP/1.1 200 OK\r\n\r\n${body}tail`, 50 * 1024));
  assertEquals(await reader.readHead(), "HTTP/1.1 200 OK");
  const freeBefore = copyBuffers.free;
  const out = sink();
  assert(await copyBody(reader, out, { kind: "length", length: body.length }));
  assertEquals(out.text(), body);
  assertEquals(copyBuffers.free, Math.max(freeBefore, 1));
  // The bytes after the body are still the reader's.
  const rest = sink();
  assertEquals(await copyBody(reader, rest, { kind: "close" }), false);
  assertEquals(rest.text(), "tail");
});

Deno.test("latin1() and encodeLatin1() map every byte to one char and back, ASCII or not", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = latin1(all);
  assertEquals(encodeLatin1(text), all);
  assertEquals(encodeLatin1("Host: a\r\n"), new TextEncoder().encode("Host: a\r\n"));
  assertEquals(text.length, 256);
  for (let i = 0; i < 256; i++) assertEquals(text.charCodeAt(i), i);
  assertEquals(latin1(new TextEncoder().encode("GET / HTTP/1.1")), "GET / HTTP/1.1");
  // A UTF-8 byte order mark is three latin1 chars, not dropped.
  assertEquals(latin1(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41)), "\u00ef\u00bb\u00bfA");
});

Deno.test("requestSegments() refuses every way out of the root", () => {
  assertEquals(requestSegments("/a/b%20c/?q=1"), { segments: ["a", "b c"], slash: true });
  assertEquals(requestSegments("/"), { segments: [], slash: true });
  for (
    const bad of [
      "/../etc/passwd",
      "/a/../../b",
      "/%2e%2e/x",
      "/%2E%2E%2Fx",
      "/a%2f..%2f..%2fb",
      "/a%5c..%5cb",
      "/%00",
      "/%zz",
      "relative",
      "/./a",
    ]
  ) {
    assertEquals(requestSegments(bad), null, bad);
  }
});

Deno.test("parseRange() and contentTypeOf() cover the usual cases", () => {
  assertEquals(parseRange(undefined, 10), { kind: "whole" });
  assertEquals(parseRange("bytes=0-0", 10), { kind: "partial", start: 0, end: 0 });
  assertEquals(parseRange("bytes=5-", 10), { kind: "partial", start: 5, end: 9 });
  assertEquals(parseRange("bytes=-4", 10), { kind: "partial", start: 6, end: 9 });
  assertEquals(parseRange("bytes=8-100", 10), { kind: "partial", start: 8, end: 9 });
  assertEquals(parseRange("bytes=10-", 10), { kind: "unsatisfiable" });
  assertEquals(parseRange("bytes=1-2,4-5", 10), { kind: "whole" });
  assertEquals(parseRange("items=1-2", 10), { kind: "whole" });
  assertEquals(contentTypeOf("/a/b.CSS"), "text/css; charset=utf-8");
  assertEquals(contentTypeOf("/a.dir/file"), "application/octet-stream");
  assert(contentTypeOf("x.wasm") === "application/wasm");
});
