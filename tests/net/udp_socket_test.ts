import { assert, assertEquals, assertThrows } from "../_support/assert.ts";
import { bindUdp, reasonPhrase, systemResolve } from "../../src/net/mod.ts";

function nextDatagram(): {
  wait: Promise<[Uint8Array, string, number]>;
  handler: (b: Uint8Array, a: string, p: number) => void;
} {
  let handler!: (b: Uint8Array, a: string, p: number) => void;
  const wait = new Promise<[Uint8Array, string, number]>((resolve) => {
    handler = (bytes, address, port) => resolve([bytes, address, port]);
  });
  return { wait, handler };
}

Deno.test("bindUdp() delivers each datagram as its own copy with the sender, both ways", async () => {
  const toServer = nextDatagram();
  const server = bindUdp("127.0.0.1", 0, toServer.handler);
  const toClient = nextDatagram();
  const client = bindUdp("127.0.0.1", 0, toClient.handler);
  try {
    assert(server.port > 0 && client.port > 0 && server.port !== client.port);
    client.send(new TextEncoder().encode("ping"), "127.0.0.1", server.port);
    const [bytes, address, port] = await toServer.wait;
    assertEquals(new TextDecoder().decode(bytes), "ping");
    assertEquals([address, port], ["127.0.0.1", client.port]);
    // A copy: the socket's one receive buffer is reused for the next datagram.
    assertEquals(bytes.buffer.byteLength, 4);
    server.send(new TextEncoder().encode("pong"), address, port);
    const [reply] = await toClient.wait;
    assertEquals(new TextDecoder().decode(reply), "pong");
  } finally {
    server.close();
    client.close();
  }
});

Deno.test("bindUdp() refuses a taken port, and a send after close is dropped", () => {
  const first = bindUdp("127.0.0.1", 0, () => {});
  try {
    assertThrows(() => bindUdp("127.0.0.1", first.port, () => {}), Deno.errors.AddrInUse);
  } finally {
    first.close();
  }
  first.send(new Uint8Array(1), "127.0.0.1", 9);
  first.close();
});

Deno.test("bindUdp() keeps serving after a handler throws", async () => {
  const seen: number[] = [];
  const second = nextDatagram();
  const server = bindUdp("127.0.0.1", 0, (bytes, address, port) => {
    seen.push(bytes[0]);
    if (seen.length === 1) throw new Error("bad datagram");
    second.handler(bytes, address, port);
  });
  const client = bindUdp("127.0.0.1", 0, () => {});
  try {
    client.send(new Uint8Array([1]), "127.0.0.1", server.port);
    client.send(new Uint8Array([2]), "127.0.0.1", server.port);
    // Sends are asynchronous: either may come first; the one after the throw still arrives.
    const [bytes] = await second.wait;
    assertEquals(seen.length, 2);
    assertEquals(bytes[0], seen[1]);
    assertEquals([...seen].sort(), [1, 2]);
  } finally {
    server.close();
    client.close();
  }
});

Deno.test("reasonPhrase() knows the API's codes and falls back for others", () => {
  assertEquals(reasonPhrase(200), "OK");
  assertEquals(reasonPhrase(404), "Not Found");
  assertEquals(reasonPhrase(413), "Content Too Large");
  assertEquals(reasonPhrase(503), "Service Unavailable");
  assertEquals(reasonPhrase(599), "Status");
});

Deno.test("systemResolve() answers from /etc/hosts and gives null for a name nobody knows", async () => {
  assertEquals(
    await systemResolve("localhost").then((a) => a === "127.0.0.1" || a === "::1"),
    true,
  );
  assertEquals(await systemResolve("no-such-host.invalid"), null);
});
