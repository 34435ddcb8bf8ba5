// `dns` for the hub itself (src/session/hub_route.ts, src/session/hub_connect_proxy.ts) on
// loopback: the CONNECT proxy's judgement of a head (pure), the proxy refusing anything but the
// hub and tunnelling to it, and a whole agent whose hub is given by a name only a DNS server the
// test runs knows, over HTTPS (through the proxy, with the hub's CA) and plain HTTP.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { FakeHub } from "../_support/fake_hub.ts";
import { makeCaSignedCertificate } from "../_support/certificates.ts";
import { waitFor } from "../_support/netns.ts";
import { connectLoopbackAgent } from "../_support/loopback_agent.ts";
import type { Agent } from "../../src/agent/agent.ts";
import { AliasTable, DnsResolver, DnsServer } from "../../src/dns/mod.ts";
import {
  CONNECT_HEAD_MAX_BYTES,
  HubConnectProxy,
  judgeConnectHead,
} from "../../src/session/hub_connect_proxy.ts";
import { openHubRoute } from "../../src/session/hub_route.ts";

const HUB_NAME = "hub.route.test";
const ID = "route-agent", SECRET = "route-secret-value";
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("judgeConnectHead: only a complete CONNECT naming the hub passes", () => {
  const target = "hub.route.test:8443";
  const head = "CONNECT hub.route.test:8443 HTTP/1.1\r\nHost: hub.route.test:8443\r\n\r\n";
  assertEquals(judgeConnectHead(bytes(head.slice(0, 20)), target), { kind: "need-more" });
  assertEquals(judgeConnectHead(bytes(head + "\x16\x03\x01"), target), {
    kind: "connect",
    headBytes: head.length,
  });
  assertEquals(
    judgeConnectHead(bytes(head.replace("hub.route", "HUB.Route")), target).kind,
    "connect",
  );
  const refused = (request: string) => {
    const verdict = judgeConnectHead(bytes(request), target);
    return verdict.kind === "refused" ? verdict.status : verdict.kind;
  };
  assertEquals(refused("CONNECT other.test:8443 HTTP/1.1\r\n\r\n"), 403);
  assertEquals(refused("CONNECT hub.route.test:22 HTTP/1.1\r\n\r\n"), 403);
  assertEquals(refused("CONNECT 127.0.0.1:8443 HTTP/1.1\r\n\r\n"), 403);
  assertEquals(refused("GET http://hub.route.test:8443/ HTTP/1.1\r\n\r\n"), 405);
  assertEquals(refused("CONNECT\r\n\r\n"), 400);
  assertEquals(refused("CONNECT hub.route.test:8443 HTTP/1.1\r\nX: " + "a".repeat(5000)), 431);
  assert(CONNECT_HEAD_MAX_BYTES < 5000);
});

/** A TCP echo server on loopback; `close` ends it and its connections. */
function echoServer(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      conn.readable.pipeTo(conn.writable).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed by the pipe */ }
      }
    },
  };
}

/** Reads until `want` bytes or EOF. */
async function readSome(conn: Deno.Conn, want: number): Promise<string> {
  const out: number[] = [];
  const buffer = new Uint8Array(4096);
  while (out.length < want) {
    const n = await conn.read(buffer);
    if (n === null) break;
    out.push(...buffer.subarray(0, n));
  }
  return text(new Uint8Array(out));
}

Deno.test("HubConnectProxy refuses every other target and tunnels to the hub's address", async () => {
  const echo = echoServer();
  const target = `${HUB_NAME}:${echo.port}`;
  const proxy = HubConnectProxy.start({ target, address: "127.0.0.1", port: echo.port });
  const port = Number(new URL(proxy.url).port);
  try {
    assertEquals(new URL(proxy.url).hostname, "127.0.0.1");
    for (const request of [`CONNECT 127.0.0.1:${echo.port} HTTP/1.1`, "GET / HTTP/1.1"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(bytes(`${request}\r\nHost: x\r\n\r\n`));
      const answer = await readSome(conn, 1 << 16);
      assert(/^HTTP\/1\.1 40[35] /.test(answer), answer);
      conn.close();
    }
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // The first tunnel bytes come with the head: they must not be lost.
    await conn.write(bytes(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nping`));
    const established = "HTTP/1.1 200 Connection established\r\n\r\n";
    assertEquals(await readSome(conn, established.length + 4), established + "ping");
    await conn.write(bytes("pong"));
    assertEquals(await readSome(conn, 4), "pong");
    // Closing the proxy ends the tunnel it carries.
    proxy.close();
    assertEquals(await readSome(conn, 1), "");
    conn.close();
  } finally {
    proxy.close();
    echo.close();
  }
});

Deno.test("openHubRoute: nothing changes without dns or for an address", async () => {
  let asked = 0;
  const resolve = () => (asked++, Promise.resolve("127.0.0.1"));
  for (
    const [endpoint, resolver] of [
      ["https://hub.route.test:8443", undefined],
      ["https://127.0.0.1:8443", resolve],
      ["http://[::1]:8443", resolve],
    ] as const
  ) {
    const route = await openHubRoute(endpoint, resolver);
    assertEquals(route.proxy, undefined);
    route.close();
  }
  assertEquals(asked, 0);
  const plain = await openHubRoute("http://hub.route.test:8080", resolve, "10.0.0.53");
  assertEquals(plain.proxy, { transport: "tcp", hostname: "127.0.0.1", port: 8080 });
  plain.close();
  let error = "";
  await openHubRoute("https://hub.route.test", () => Promise.resolve(null), "10.0.0.53:53")
    .catch((e) => error = (e as Error).message);
  assertEquals(error, "cannot resolve hub.route.test through the DNS server 10.0.0.53:53");
});

/** A DNS server on loopback that knows HUB_NAME (127.0.0.1) and nothing else. */
function dnsServer(): Promise<DnsServer> {
  return DnsServer.start({
    address: "127.0.0.1",
    port: 0,
    resolver: new DnsResolver({
      aliases: new AliasTable([{ alias: HUB_NAME, aliasAddress: "127.0.0.1" }]),
      upstreams: [{ host: "127.0.0.1", port: 9 }],
      // Nothing is forwarded anywhere: an unknown name is SERVFAIL.
      exchange: () => Promise.reject(new Error("no upstream in this test")),
    }),
  });
}

async function withNamedHub(
  tls: boolean,
  fn: (context: {
    hub: FakeHub;
    connect(host: string, dns?: string): Promise<{ agent: Agent; logs: string[] }>;
    dns: string;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-route-" });
  const files = await makeCaSignedCertificate(dir, [HUB_NAME]);
  const hub = await FakeHub.start({
    clients: { [ID]: SECRET },
    ...(tls
      ? {
        tls: {
          cert: await Deno.readTextFile(files.certFile),
          key: await Deno.readTextFile(files.keyFile),
        },
      }
      : {}),
  });
  const dns = await dnsServer();
  const agents: Agent[] = [];
  const connect = async (host: string, dnsAddress?: string) => {
    const started = await connectLoopbackAgent({
      stateDir: `${dir}/agent${agents.length}`,
      hubCaFile: files.caFile,
      connect: {
        endpoint: `${tls ? "https" : "http"}://${host}:${hub.port}`,
        id: ID,
        secret: SECRET,
        ...(dnsAddress ? { dns: dnsAddress } : {}),
      },
    });
    agents.push(started.agent);
    return started;
  };
  try {
    await fn({ hub, connect, dns: `127.0.0.1:${dns.port}` });
  } finally {
    for (const agent of agents) await agent.close();
    await dns.close();
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const tls of [true, false]) {
  Deno.test(`dns resolves the hub's name for the login and the WebSocket (${tls ? "HTTPS" : "HTTP"})`, async () => {
    await withNamedHub(tls, async ({ hub, connect, dns }) => {
      const { agent } = await connect(HUB_NAME, dns);
      await waitFor(
        "registered through the dns server's answer",
        () => agent.status().registered,
        15_000,
      );
      assertEquals(hub.logins.length, 1);
      assertEquals(hub.frames("olm/wg/register").length >= 1, true);
      assertEquals(agent.status().error, undefined);
      await agent.disconnect();
    });
  });
}

Deno.test("dns that does not know the hub's name: a named error, retried", async () => {
  await withNamedHub(true, async ({ hub, connect, dns }) => {
    const { agent, logs } = await connect("unknown.route.test", dns);
    const expected = `cannot resolve unknown.route.test through the DNS server ${dns}`;
    await waitFor("the named error", () => logs.some((l) => l.includes(expected)), 15_000);
    const line = logs.find((l) => l.includes(expected))!;
    assertStringIncludes(line, "hub unreachable");
    assertEquals(hub.logins.length, 0);
    assertEquals(agent.status().registered, false);
    await agent.disconnect();
  });
});
