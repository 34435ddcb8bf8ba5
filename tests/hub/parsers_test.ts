// The hub's pure parsers: SNI from real and hand-made ClientHellos, Host from request heads,
// the RTT probe answer and the port-map wire format.
import { assert, assertEquals } from "../_support/assert.ts";
import { parseClientHello, parseRequestHost, tlsAlert } from "../../src/net/mod.ts";
import { answerProbe } from "../../src/hub/probe_answer.ts";
import {
  decodePortMapAnswer,
  decodePortMapRequest,
  encodePortMapAnswer,
  encodePortMapRequest,
  frameDatagram,
  readDatagrams,
  unframeDatagrams,
} from "../../src/protocol/portmap_frames.ts";
import { run } from "../_support/netns.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

/** The first bytes curl sends to a TLS server named `name` (captured on loopback). */
async function captureClientHello(name: string): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const curl = run([
    "curl",
    "-sk",
    "--max-time",
    "3",
    "--resolve",
    `${name}:${port}:127.0.0.1`,
    `https://${name}:${port}/`,
  ], { check: false });
  const conn = await listener.accept();
  const chunks: number[] = [];
  const buffer = new Uint8Array(4096);
  while (parseClientHello(Uint8Array.from(chunks)).kind === "need-more") {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(...buffer.subarray(0, n));
  }
  conn.close();
  listener.close();
  await curl;
  return Uint8Array.from(chunks);
}

Deno.test("parseClientHello() finds the SNI in curl's ClientHello and asks for more on every prefix", async () => {
  const hello = await captureClientHello("Site.Example.com");
  assertEquals(parseClientHello(hello), { kind: "found", serverName: "site.example.com" });
  for (const cut of [0, 1, 5, 10, hello.length - 1]) {
    assertEquals(parseClientHello(hello.subarray(0, cut)).kind, "need-more", `prefix ${cut}`);
  }
});

Deno.test("parseClientHello() refuses non-TLS and reports a hello without SNI", () => {
  assertEquals(parseClientHello(bytes("GET / HTTP/1.1\r\n")).kind, "invalid");
  // Minimal ClientHello: version, random, empty session id, one suite, null compression, no extensions.
  const body = [3, 3, ...new Array(32).fill(7), 0, 0, 2, 0x13, 0x01, 1, 0];
  const handshake = [1, 0, 0, body.length, ...body];
  const record = [22, 3, 1, 0, handshake.length, ...handshake];
  assertEquals(parseClientHello(Uint8Array.from(record)).kind, "no-sni");
  // Random bytes behind a handshake record header never throw.
  for (let i = 0; i < 500; i++) {
    const junk = crypto.getRandomValues(new Uint8Array(5 + Math.floor(Math.random() * 300)));
    junk[0] = 22;
    junk[1] = 3;
    parseClientHello(junk);
  }
  assertEquals([...tlsAlert(112)], [21, 3, 1, 0, 2, 2, 112]);
});

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

Deno.test("answerProbe() echoes the timestamp with type 2 and ignores anything else", () => {
  const request = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals([...answerProbe(request)!], [0xde, 0xad, 0xbe, 0xef, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals(answerProbe(request.subarray(0, 12)), null);
  const reply = request.slice();
  reply[4] = 2;
  assertEquals(answerProbe(reply), null, "replies are not answered");
  const wrong = request.slice();
  wrong[0] = 0;
  assertEquals(answerProbe(wrong), null);
});

Deno.test("port-map wire: request and answer lines round-trip; datagrams frame and unframe", () => {
  const request = { destination: "db.example.com", dstPort: 5432, transport: "tcp" as const };
  const line = encodePortMapRequest(request);
  assertEquals(line[line.length - 1], 10);
  assertEquals(decodePortMapRequest(line.subarray(0, line.length - 1)), request);
  assertEquals(
    decodePortMapRequest(bytes('{"v":1,"destination":"","dstPort":0,"transport":"tcp"}')),
    null,
  );
  assertEquals(
    decodePortMapRequest(bytes('{"v":2,"destination":"","dstPort":1,"transport":"tcp"}')),
    null,
  );
  assertEquals(decodePortMapRequest(bytes("nonsense")), null);
  const refusal = encodePortMapAnswer({ ok: false, error: "no" });
  assertEquals(decodePortMapAnswer(refusal.subarray(0, refusal.length - 1)), {
    ok: false,
    error: "no",
  });
  const stream = Uint8Array.from([
    ...frameDatagram(bytes("one")),
    ...frameDatagram(bytes("")),
    ...frameDatagram(bytes("three")).subarray(0, 4),
  ]);
  const { datagrams, rest } = unframeDatagrams(stream);
  assertEquals(datagrams.map((d) => new TextDecoder().decode(d)), ["one", ""]);
  assertEquals(rest.length, 4);
});

Deno.test("port-map wire: readDatagrams joins frames split across reads, drops a partial one at EOF", async () => {
  const stream = Uint8Array.from([
    ...frameDatagram(bytes("first")),
    ...frameDatagram(bytes("second")),
    ...frameDatagram(bytes("cut")).subarray(0, 3),
  ]);
  // Reads of 1, 3, 7 bytes and the rest cut both a length prefix and a payload in two.
  const cuts = [1, 4, 11, stream.length];
  let read = 0, offset = 0;
  const conn = {
    read(buffer: Uint8Array): Promise<number | null> {
      if (read === cuts.length) return Promise.resolve(null);
      const piece = stream.subarray(offset, cuts[read++]);
      buffer.set(piece);
      offset += piece.length;
      return Promise.resolve(piece.length);
    },
  };
  const received: string[] = [];
  for await (const datagram of readDatagrams(conn)) {
    received.push(new TextDecoder().decode(datagram));
  }
  assertEquals(received, ["first", "second"]);
});
