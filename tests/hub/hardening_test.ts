// The hub under attack (issue #13 items 2, 6, 7, 8, 9): single-use tokens, the port quota,
// the slow-login limit per address, WebSocket frames refused by their declared size, the
// control port's head timeout and per-address cap, and port maps kept out of the hub's own
// networks. Loopback hub with a fake tunnel device.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { login, startTestHub, TestAgent } from "./_hub_support.ts";
import { freePortRange } from "../_support/ports.ts";
import { WS_PATH } from "../../src/protocol/control.ts";
import { parseCidr, parseIp } from "../../src/net/mod.ts";
import { DestinationPolicy, localInterfaceAddresses } from "../../src/hub/portmap_policy.ts";
import { PortMapService } from "../../src/hub/portmap.ts";
import { EMPTY_ROUTES } from "../../src/hub/route_table.ts";
import { decodePortMapAnswer, encodePortMapRequest } from "../../src/protocol/mod.ts";

type TestHub = Awaited<ReturnType<typeof startTestHub>>;

async function withHub(
  fn: (ctx: { base: string; hub: TestHub; port: number }) => Promise<void>,
  overrides: Parameters<typeof startTestHub>[2] = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "bhb-hard-" });
  const hub = await startTestHub(dir, new Map(), { portRange: freePortRange(3), ...overrides });
  try {
    await fn({ base: `http://127.0.0.1:${hub.controlPort}`, hub, port: hub.controlPort });
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function tokenOf(base: string, id: string, secret: string): Promise<string> {
  const answer = await login(base, { olmId: id, secret });
  assertEquals(answer.status, 200);
  return (answer.json.data as { token: string }).token;
}

function openSocket(base: string, token: string): Promise<WebSocket | number> {
  const socket = new WebSocket(`${base.replace(/^http/, "ws")}${WS_PATH}?token=${token}`);
  return new Promise((resolve) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => resolve(0);
  });
}

Deno.test("a login token opens one WebSocket: a replay is refused and leaves the session alone", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const token = await tokenOf(base, id, secret);
    const first = await openSocket(base, token);
    assert(first instanceof WebSocket, "the token opens the socket once");
    const replay = await fetch(`${base}${WS_PATH}?token=${token}&clientType=olm`, {
      headers: { upgrade: "websocket", connection: "upgrade" },
    });
    assertEquals(replay.status, 401);
    await replay.body?.cancel();
    assertEquals(await openSocket(base, token), 0, "a replayed token opens nothing");
    assert(hub.control.isConnected(id));
    assertEquals(first.readyState, WebSocket.OPEN, "the real session was not replaced");
    const closed = new Promise((resolve) => first.onclose = resolve);
    first.close();
    await closed;
  });
});

Deno.test("the port quota: past --ports-per-agent an allocation is refused, saying so", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const agent = await TestAgent.connect(base, id, secret);
    try {
      await agent.register();
      for (let i = 0; i < 2; i++) {
        const ok = await agent.request("burrow/ports/allocate");
        assertEquals(ok.type, "burrow/ports/allocated");
      }
      const refused = await agent.request("burrow/ports/allocate");
      assertEquals(refused.type, "burrow/error");
      const data = refused.data as { code: string; message: string };
      assertEquals(data.code, "port_quota");
      assertStringIncludes(data.message, "2 ports per agent");
      assertEquals(hub.store.portsOf(id).length, 2, "nothing allocated by the refusal");
    } finally {
      await agent.close();
    }
  }, { portsPerAgent: 2 });
});

Deno.test("16 concurrent wrong secrets from one address: past the limit 429 with Retry-After", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const answers = await Promise.all(
      Array.from({ length: 16 }, () =>
        fetch(base + "/api/v1/auth/olm/get-token", {
          method: "POST",
          headers: { "content-type": "application/json", "x-csrf-token": "x-csrf-protection" },
          body: JSON.stringify({ olmId: id, secret: "wrong" }),
        }).then(async (r) => ({
          status: r.status,
          retry: r.headers.get("retry-after"),
          body: await r.json(),
        }))),
    );
    const limited = answers.filter((a) => a.status === 429);
    assert(limited.length >= 8, `429 past the limit (got ${limited.length})`);
    assertEquals(answers.filter((a) => a.status !== 429 && a.status !== 401).length, 0);
    for (const answer of limited) {
      assert(Number(answer.retry) >= 1, "Retry-After in whole seconds");
      assertEquals(answer.body.status, 429);
    }
    // The limit counts logins in flight: once they are done, the real secret gets in.
    assertEquals((await login(base, { olmId: id, secret })).status, 200);
  });
});

/** A raw WebSocket client: the upgrade, then frames written by hand. */
async function rawUpgrade(port: number, token: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = `GET ${WS_PATH}?token=${token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  const buffer = new Uint8Array(1024);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("closed during the upgrade");
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assertStringIncludes(text, "101");
  assertStringIncludes(text, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  return conn;
}

/** The first bytes the peer sends, null at EOF, "timeout" when nothing came within `ms`. */
async function readWithin(conn: Deno.Conn, ms: number): Promise<Uint8Array | null | "timeout"> {
  const buffer = new Uint8Array(64);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, ms);
  try {
    const n = await conn.read(buffer);
    return n === null ? null : buffer.subarray(0, n);
  } catch {
    return timedOut ? "timeout" : null;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a huge declared WebSocket frame is refused from its header, before any payload", async () => {
  await withHub(async ({ base, hub, port }) => {
    const { id, secret } = await hub.store.addClient();
    const conn = await rawUpgrade(port, await tokenOf(base, id, secret));
    const rssBefore = Deno.memoryUsage().rss;
    // A masked text frame declaring 60 MiB (under the 64 MiB a WebSocket library buffers).
    const declared = 60 * 1024 * 1024;
    const header = new Uint8Array(14);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    new DataView(header.buffer).setBigUint64(2, BigInt(declared));
    await conn.write(header);
    const answer = await readWithin(conn, 3000);
    assert(answer instanceof Uint8Array, "the hub answers the header alone");
    assertEquals(answer[0], 0x88, "a close frame");
    assertEquals((answer[2] << 8) | answer[3], 1009);
    // Sending the payload anyway: the hub does not keep it.
    const chunk = new Uint8Array(1024 * 1024);
    for (let sent = 0; sent < declared; sent += chunk.length) {
      try {
        await conn.write(chunk);
      } catch {
        break;
      }
    }
    try {
      conn.close();
    } catch { /* closed by the hub */ }
    const grown = (Deno.memoryUsage().rss - rssBefore) / 1024 / 1024;
    assert(grown < 30, `RSS grew ${grown.toFixed(1)} MiB`);
  });
});

Deno.test("the control port drops a connection that sends no request head in time", async () => {
  await withHub(async ({ port }) => {
    const idle = await Deno.connect({ hostname: "127.0.0.1", port });
    assertEquals(await readWithin(idle, 5000), null, "closed by the hub");
    try {
      idle.close();
    } catch { /* already */ }
  }, { controlHeadTimeoutMs: 200 });
});

Deno.test("the control port caps openings per address: the next is 429 at once", async () => {
  await withHub(async ({ port, base, hub }) => {
    const idle = await Promise.all(
      [0, 1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port })),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const extra = await Deno.connect({ hostname: "127.0.0.1", port });
    const answer = await readWithin(extra, 3000);
    assert(answer instanceof Uint8Array, "answered at once");
    assertStringIncludes(new TextDecoder().decode(answer), "429");
    extra.close();
    for (const conn of idle) conn.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const { id, secret } = await hub.store.addClient();
    assertEquals((await login(base, { olmId: id, secret })).status, 200, "free again");
  }, { controlOpeningPerAddress: 3 });
});

Deno.test("port-map destinations: the hub's own addresses, link-local and denied networks are refused", () => {
  const own = [parseIp("192.0.2.10")!, parseIp("2001:db8::10")!];
  const policy = new DestinationPolicy(parseCidr("100.89.128.0/20")!, [
    parseCidr("10.20.0.0/16")!,
  ], () => own);
  const refused = (text: string) => policy.refusal(parseIp(text)!);
  for (
    const address of [
      "192.0.2.10",
      "::ffff:192.0.2.10",
      "2001:db8::10",
      "169.254.169.254",
      "fe80::1",
      "10.20.3.4",
      "127.0.0.1",
      "::1",
      "0.0.0.0",
      "100.89.128.7",
    ]
  ) assert(refused(address) !== null, `${address} refused`);
  for (const address of ["192.0.2.11", "10.21.0.1", "2001:db8::11", "93.184.216.34"]) {
    assertEquals(refused(address), null, `${address} allowed`);
  }
});

Deno.test("the port-map service refuses the hub's own interface address as a destination", async () => {
  const own = localInterfaceAddresses().find((a) => a.length === 4 && a[0] !== 127);
  if (!own) return; // a host with loopback only: nothing to check
  const ownText = own.join(".");
  const caller = "127.0.0.1";
  const routes = {
    ...EMPTY_ROUTES,
    clientsByTunnelIP: new Map([[caller, "c1"]]),
    portmaps: new Map([["c1", [{
      port: 2222,
      destination: ownText,
      dstPort: 22,
      transport: "tcp" as const,
    }]]]),
  };
  const service = new PortMapService({
    hostname: "127.0.0.1",
    port: 0,
    routes: () => routes,
    tunnelNetwork: parseCidr("100.89.128.0/20")!,
    dialAgent: () => Promise.reject(new Error("no tunnel")),
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: service.port });
    await conn.write(encodePortMapRequest({ destination: ownText, dstPort: 22, transport: "tcp" }));
    const buffer = new Uint8Array(512);
    let text = "";
    while (!text.includes("\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    conn.close();
    const answer = decodePortMapAnswer(new TextEncoder().encode(text.trim()));
    assertEquals(answer?.ok, false);
    assertStringIncludes(String((answer as { error: string }).error), "hub's own addresses");
  } finally {
    await service.close();
  }
});
