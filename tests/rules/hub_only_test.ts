// Who may talk to the agent's tunnel listeners: only the hub's tunnel address. The engine here
// listens on 127.0.0.1 and is told the hub is 127.0.0.2; the hub's connections are made from
// 127.0.0.2, and a local process (from 127.0.0.1) sends the same PROXY header naming a client
// the firewalls allow. The hub's traffic is served; the forgery reaches neither the site nor the
// TCP forward's destination.

import net from "node:net";
import { assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { freePort } from "../_support/ports.ts";
import { concat } from "../../src/net/stream.ts";
import { encodeProxyV2 } from "../../src/net/proxy_v2.ts";
import { echoUpstream, parseResponse, readAll, relayedConnect, startEngine } from "./_fixtures.ts";

const HUB = "127.0.0.2";
const ALLOWED = "203.0.113.7";

/** Connects to 127.0.0.1:`port` from `from`, sends `payload`, half-closes, reads until EOF. */
function exchangeFrom(from: string, port: number, payload: Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const socket = net.createConnection({ host: "127.0.0.1", port, localAddress: from }, () => {
      socket.write(payload);
      socket.end();
    });
    socket.on("data", (chunk: Uint8Array) => received += new TextDecoder().decode(chunk));
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
  });
}

/** What the hub sends: a PROXY v2 header naming `client`, then `text`. */
function relayed(client: string, port: number, text: string): Uint8Array {
  const header = encodeProxyV2({ address: client, port: 40000 }, { address: HUB, port });
  return concat([header, new TextEncoder().encode(text)]);
}

Deno.test("only the hub's address may relay: a forged PROXY header reaches no site and no forward", async () => {
  const upstream = echoUpstream();
  let tcpConnections = 0;
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echoLoop = (async () => {
    for await (const conn of echo) {
      tcpConnections++;
      conn.readable.pipeTo(conn.writable).catch(() => {});
    }
  })();
  const allocated = freePort();
  const fixture = await startEngine({ pool: [allocated], hubAddress: HUB });
  try {
    assertEquals(await fixture.engine.allocate(), allocated);
    const onlyAllowed = [{ sequence: 1, action: "allow", network: `${ALLOWED}/32` }];
    await fixture.engine.create({
      https: [{
        domain: "fw.example.com",
        destination: "127.0.0.1",
        port: upstream.port,
        firewall: onlyAllowed,
      }],
      ports: [{
        port: allocated,
        destination: "127.0.0.1",
        dstPort: (echo.addr as Deno.NetAddr).port,
        firewall: onlyAllowed,
      }],
    });
    const request = "GET /in HTTP/1.1\r\nHost: fw.example.com\r\nConnection: close\r\n\r\n";

    // The hub's own connections, from its address, are served as before.
    const site = parseResponse(
      await exchangeFrom(HUB, fixture.http, relayed(ALLOWED, fixture.http, request)),
    );
    assertEquals(site.status, 200, site.body);
    assertEquals(JSON.parse(site.body).headers["x-forwarded-for"], ALLOWED);
    assertEquals(
      await exchangeFrom(HUB, allocated, relayed(ALLOWED, allocated, "through the hub")),
      "through the hub",
    );
    assertEquals(tcpConnections, 1);

    // A local process sends the very same bytes: closed unread, nothing reaches an upstream.
    const forgedSite = await relayedConnect(fixture.http, ALLOWED, request);
    assertEquals(new TextDecoder().decode(await readAll(forgedSite)), "");
    forgedSite.close();
    const forgedForward = await relayedConnect(allocated, ALLOWED, "forged");
    assertEquals(new TextDecoder().decode(await readAll(forgedForward)), "");
    forgedForward.close();
    const forgedTls = await relayedConnect(fixture.https, ALLOWED, "\x16\x03\x01");
    assertEquals((await readAll(forgedTls)).length, 0);
    forgedTls.close();
    assertEquals(tcpConnections, 1, "the forward's destination saw no forged connection");

    // And the hub still gets through afterwards.
    const again = parseResponse(
      await exchangeFrom(HUB, fixture.http, relayed(ALLOWED, fixture.http, request)),
    );
    assertEquals(again.status, 200);
    assertStringIncludes(again.body, '"path":"/in"');
  } finally {
    await fixture.close();
    await upstream.server.shutdown();
    echo.close();
    await echoLoop.catch(() => {});
  }
});

Deno.test("with the hub's address unknown the tunnel listeners accept nobody", async () => {
  const upstream = echoUpstream();
  const fixture = await startEngine({ hubAddress: "" });
  try {
    await fixture.engine.create({
      https: [{ domain: "open.example.com", destination: "127.0.0.1", port: upstream.port }],
    });
    const conn = await relayedConnect(
      fixture.http,
      ALLOWED,
      "GET / HTTP/1.1\r\nHost: open.example.com\r\nConnection: close\r\n\r\n",
    );
    assertEquals((await readAll(conn)).length, 0);
    conn.close();
  } finally {
    await fixture.close();
    await upstream.server.shutdown();
  }
});
