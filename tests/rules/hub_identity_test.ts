// Which peer the rules treat as the hub. Since private resources, an agent's peers include
// other agents (sites, clients reaching this site), and one may be listed before the hub. The
// rules must take the hub's address the session names (its site, matched by the hub's key),
// never the first peer: for the PROXY-header trust of the tunnel listeners and for the dial of
// every port map. A fake agent lists another agent's peer first; its hub is elsewhere on a
// random loopback /24 (the listeners bind :80 and :443 there, as on a tunnel address).

import net from "node:net";
import { assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { freePort } from "../_support/ports.ts";
import { concat } from "../../src/net/stream.ts";
import { encodeProxyV2 } from "../../src/net/proxy_v2.ts";
import {
  encodePortMapAnswer,
  PORT_MAP_SERVICE_PORT,
  readPortMapLine,
} from "../../src/protocol/mod.ts";
import { type AgentForRules, startAgentRules } from "../../src/rules/mod.ts";
import { FakeHub } from "./_fixtures.ts";

const NET = `127.${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}`;
const HUB = `${NET}.1`;
const SELF = `${NET}.2`;
const OTHER_AGENT = `${NET}.9`;

/** Connects to SELF:80 from `from`, sends a PROXY header and a request, reads until EOF. */
function requestFrom(from: string): Promise<string> {
  const header = encodeProxyV2({ address: "203.0.113.7", port: 40000 }, {
    address: SELF,
    port: 80,
  });
  const head = "GET / HTTP/1.1\r\nHost: nobody.example.com\r\nConnection: close\r\n\r\n";
  const payload = concat([header, new TextEncoder().encode(head)]);
  return new Promise((resolve) => {
    let received = "";
    const socket = net.createConnection({ host: SELF, port: 80, localAddress: from }, () => {
      socket.write(payload);
      socket.end();
    });
    socket.on("data", (chunk: Uint8Array) => received += new TextDecoder().decode(chunk));
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
  });
}

/** The hub's port-map service on HUB: answers ok to one request line, then echoes. */
function portMapService() {
  const listener = Deno.listen({ hostname: HUB, port: PORT_MAP_SERVICE_PORT });
  const requests: string[] = [];
  const served: Promise<void>[] = [];
  const serve = async (conn: Deno.Conn) => {
    const line = await readPortMapLine(conn);
    if (!line) return conn.close();
    requests.push(new TextDecoder().decode(line));
    await conn.write(encodePortMapAnswer({ ok: true }));
    // Ends (and closes the connection) when the agent's side closes.
    await conn.readable.pipeTo(conn.writable);
  };
  const accepting = (async () => {
    for await (const conn of listener) served.push(serve(conn).catch(() => {}));
  })();
  return {
    requests,
    /** Stops accepting and waits for every served connection to end. */
    close: async () => {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(served);
    },
  };
}

Deno.test("the rules trust and dial the hub the session names, not the first peer", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "brl-hubid-" });
  const hub = new FakeHub([]);
  const service = portMapService();
  let registered: ((event: { tunnelIP: string; hubAddress: string | undefined }) => unknown)[] = [];
  const agent: AgentForRules & { status(): unknown } = {
    stateDir,
    request: async (type, data) => ({ type, data: await hub.request(type, data ?? {}) }),
    onRegistered(listener) {
      registered.push(listener);
      return () => registered = registered.filter((l) => l !== listener);
    },
    hubAddress: () => HUB,
    // What GET /status shows: another agent's peer before the hub's (keyed by site id, so a
    // lower id comes first whatever the insertion order; the hub's id is no promise).
    status: () => ({
      peers: {
        "3": { peerAddress: OTHER_AGENT },
        "7": { peerAddress: HUB },
      },
    }),
  };
  const rules = await startAgentRules(agent, { directoryUrl: "http://127.0.0.1:9/directory" });
  const mapped = freePort();
  try {
    for (const listener of registered) {
      await listener({ tunnelIP: `${SELF}/8`, hubAddress: HUB });
    }
    // The hub's relayed request is served (no site has that name: 404 from the agent).
    assertStringIncludes(await requestFrom(HUB), "HTTP/1.1 404");
    // The other agent's forged PROXY header is closed unread.
    assertEquals(await requestFrom(OTHER_AGENT), "");

    // A port map dials the hub's port-map service, not the other agent.
    await rules.engine.create({
      portmaps: [{ port: mapped, dstPort: 22132, destination: "", transport: "tcp", label: "m" }],
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: mapped });
    await conn.write(new TextEncoder().encode("through the hub"));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    conn.close();
    assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "through the hub");
    assertEquals(service.requests.length, 1);
    assertEquals(JSON.parse(service.requests[0]).dstPort, 22132);
  } finally {
    await rules.close();
    await rules.engine.certificatesSettled();
    await service.close();
    await Deno.remove(stateDir, { recursive: true });
  }
});
