// The one ClientHello parser: SNI from real (curl's) and hand-made ClientHellos.
import { assertEquals } from "../_support/assert.ts";
import { parseClientHello, tlsAlert } from "../../src/net/tls_client_hello.ts";
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
