// Port maps on loopback with a fake hub dialer: TCP streams and UDP flows (framed datagrams)
// reach the mapped service; a busy local port refuses the change; deleting closes the listener.

import { assertEquals, assertRejects, assertStringIncludes } from "../_support/assert.ts";
import { frameDatagram, unframeDatagrams } from "../../src/protocol/mod.ts";
import type { PortMapRequest } from "../../src/protocol/mod.ts";
import { RuleError } from "../../src/protocol/mod.ts";
import { freePort } from "../_support/ports.ts";
import { startEngine } from "./_fixtures.ts";

/** A stand-in for the hub's port-map service: TCP echoes, UDP echoes framed datagrams. */
function fakeHub() {
  const requests: PortMapRequest[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      conn.readable.pipeTo(conn.writable).catch(() => {}).finally(() => conns.delete(conn));
    }
  })();
  return {
    requests,
    dial: async (request: PortMapRequest): Promise<Deno.Conn> => {
      requests.push(request);
      return await Deno.connect({
        hostname: "127.0.0.1",
        port: (listener.addr as Deno.NetAddr).port,
      });
    },
    close: async () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await loop.catch(() => {});
    },
  };
}

Deno.test("TCP and UDP port maps reach the hub's service and close when deleted", async () => {
  const hub = fakeHub();
  const fixture = await startEngine({ dialer: hub.dial });
  const tcpPort = freePort(), udpPort = freePort("udp");
  try {
    await fixture.engine.create({
      portmaps: [
        { port: tcpPort, dstPort: 22132, destination: "", transport: "tcp", label: "t" },
        { port: udpPort, dstPort: 53, destination: "192.0.2.53", transport: "udp", label: "u" },
      ],
    });
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
    await tcp.write(new TextEncoder().encode("through the hub"));
    const buffer = new Uint8Array(64);
    const n = await tcp.read(buffer);
    assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "through the hub");
    tcp.close();

    // The fake hub echoes the framed bytes, so the datagram comes back as sent.
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await udp.send(new TextEncoder().encode("datagram"), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: udpPort,
    });
    const [reply] = await udp.receive();
    assertEquals(new TextDecoder().decode(reply), "datagram");
    udp.close();
    assertEquals(hub.requests, [
      { destination: "", dstPort: 22132, transport: "tcp" },
      { destination: "192.0.2.53", dstPort: 53, transport: "udp" },
    ]);

    await fixture.engine.remove({ portmaps: [{ port: tcpPort }, { port: udpPort }] });
    Deno.listen({ hostname: "127.0.0.1", port: tcpPort }).close();
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: udpPort }).close();
  } finally {
    await fixture.close();
    await hub.close();
  }
});

Deno.test("a busy local port refuses the whole request", async () => {
  const fixture = await startEngine();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const free = freePort();
  try {
    const error = await assertRejects(
      () =>
        fixture.engine.create({
          portmaps: [
            { port: free, dstPort: 1 },
            { port: (busy.addr as Deno.NetAddr).port, dstPort: 2 },
          ],
        }),
      RuleError,
    );
    assertEquals(error.kind, "conflict");
    assertStringIncludes(error.message, "portmaps[1]");
    assertEquals(fixture.engine.rules().portmaps, []);
    // The first map's listener was bound and released again.
    Deno.listen({ hostname: "127.0.0.1", port: free }).close();
  } finally {
    busy.close();
    await fixture.close();
  }
});

Deno.test("framed datagrams survive arbitrary stream splits", () => {
  const datagrams = ["a", "", "bc".repeat(300)].map((t) => new TextEncoder().encode(t));
  const stream = new Uint8Array(datagrams.flatMap((d) => [...frameDatagram(d)]));
  for (const cut of [1, 2, 3, 50, stream.length]) {
    const first = unframeDatagrams(stream.subarray(0, cut));
    const rest = new Uint8Array([...first.rest, ...stream.subarray(cut)]);
    const second = unframeDatagrams(rest);
    assertEquals([...first.datagrams, ...second.datagrams], datagrams, `cut ${cut}`);
  }
});
