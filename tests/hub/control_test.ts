// The hub's control plane over real sockets on loopback (fake tunnel device): login answers,
// the WebSocket protocol, ports, rules sync conflicts and client removal.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { login, startTestHub, TestAgent } from "./_hub_support.ts";
import { freePortRange } from "../_support/ports.ts";
import { HubStore } from "../../src/hub/client_store.ts";
import { WS_PATH } from "../../src/protocol/control.ts";
import { run } from "../_support/netns.ts";
import { makeSelfSignedCertificate } from "../_support/certificates.ts";

async function withHub(
  fn: (
    ctx: { base: string; hub: Awaited<ReturnType<typeof startTestHub>>; dir: string },
  ) => Promise<void>,
  overrides: Parameters<typeof startTestHub>[2] = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "bhb-control-" });
  const hub = await startTestHub(dir, new Map(), { portRange: freePortRange(3), ...overrides });
  try {
    await fn({ base: `http://127.0.0.1:${hub.controlPort}`, hub, dir });
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("login answers 200 with a token, 401 for a wrong id or secret, 400/403/405/413 for bad requests", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient("a");
    const ok = await login(base, { olmId: id, secret });
    assertEquals(ok.status, 200);
    assertEquals(ok.json.success, true);
    const data = ok.json.data as {
      token: string;
      exitNodes: { publicKey: string; endpoint: string }[];
    };
    assert(data.token.length >= 32);
    assertEquals(data.exitNodes[0].endpoint, "127.0.0.1:51820");
    assertEquals(data.exitNodes[0].publicKey, hub.site().publicKey);

    assertEquals((await login(base, { olmId: id, secret: secret + "x" })).status, 401);
    const unknown = await login(base, { olmId: "nobody", secret });
    assertEquals(unknown.status, 401);
    assertEquals(unknown.json.success, false);
    assert(!JSON.stringify(unknown.json).includes(secret), "no secret in the answer");
    assertEquals((await login(base, "{not json")).status, 400);
    assertEquals((await login(base, { olmId: id })).status, 400);
    assertEquals((await login(base, { olmId: 5, secret: [] })).status, 400);
    assertEquals((await login(base, { olmId: id, secret }, {})).status, 403);
    assertEquals((await login(base, "x".repeat(20_000))).status, 413);
    const get = await fetch(base + "/api/v1/auth/olm/get-token");
    assertEquals(get.status, 405);
    await get.body?.cancel();
  });
});

Deno.test("the WebSocket refuses a bad or expired token with 401", async () => {
  await withHub(async ({ base, hub }) => {
    const bad = await fetch(`${base}${WS_PATH}?token=nope&clientType=olm`);
    assertEquals(bad.status, 401);
    await bad.body?.cancel();
    const { id, secret } = await hub.store.addClient();
    const token = ((await login(base, { olmId: id, secret })).json.data as { token: string }).token;
    await new Promise((resolve) => setTimeout(resolve, 150));
    const expired = await fetch(`${base}${WS_PATH}?token=${token}&clientType=olm`);
    assertEquals(expired.status, 401);
    await expired.body?.cancel();
  }, { tokenTtlMs: 100 });
});

Deno.test("register answers olm/wg/connect with the tunnel address and the hub as site; ping gets pong", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const agent = await TestAgent.connect(base, id, secret);
    try {
      const { frame, publicKey } = await agent.register();
      assertEquals(frame.type, "olm/wg/connect");
      const data = frame.data as {
        tunnelIP: string;
        sites: { serverIP: string; serverPort: number; publicKey: string; endpoint: string }[];
        chainId: string;
      };
      assertEquals(data.tunnelIP, "100.89.128.2/20");
      assertEquals(data.chainId, "c1");
      assertEquals(data.sites.length, 1);
      assertEquals(data.sites[0].serverIP, "100.89.128.1");
      assertEquals(data.sites[0].serverPort, 51820);
      assertEquals(data.sites[0].endpoint, "127.0.0.1:51820");
      assertEquals(hub.fakeDevice.peerMap.get(publicKey)?.allowedIps, ["100.89.128.2/32"]);
      assertEquals(hub.fakeDevice.addresses, ["100.89.128.1/20"]);

      agent.send({ type: "olm/ping", data: { timestamp: Date.now() }, configVersion: 1 });
      await agent.next((f) => f.type === "pong");

      // A new key moves the peer: the old one is removed from the device.
      const second = await agent.register();
      assertEquals((second.frame.data as { tunnelIP: string }).tunnelIP, "100.89.128.2/20");
      assert(!hub.fakeDevice.peerMap.has(publicKey));
      assert(hub.fakeDevice.peerMap.has(second.publicKey));

      // Another client cannot take that key.
      const other = await hub.store.addClient();
      const intruder = await TestAgent.connect(base, other.id, other.secret);
      try {
        const stolen = await intruder.register(second.publicKey);
        assertEquals(stolen.frame.type, "olm/error");
        assertEquals((stolen.frame.data as { code: string }).code, "key_in_use");
        const bad = await intruder.register("not-a-key");
        assertEquals(bad.frame.type, "olm/error");
      } finally {
        await intruder.close();
      }
    } finally {
      await agent.close();
    }
  });
});

Deno.test("unknown types, invalid JSON and bad payloads get error frames; the session keeps serving", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const agent = await TestAgent.connect(base, id, secret);
    try {
      agent.send({ type: "olm/made-up", data: {} });
      const unknown = await agent.next((f) => f.type === "error");
      assertStringIncludes((unknown.data as { message: string }).message, "unknown message type");
      agent.send("{not json");
      await agent.next((f) => f.type === "error");
      agent.send('"just a string"');
      await agent.next((f) => f.type === "error");
      agent.send({ type: "burrow/ports/release", data: { requestId: "x", port: "many" } });
      const bad = await agent.next((f) => f.type === "burrow/error");
      assertEquals((bad.data as { requestId: string; code: string }).requestId, "x");
      const listed = await agent.request("burrow/ports/list");
      assertEquals(listed.type, "burrow/ports/listed");
    } finally {
      await agent.close();
    }
  });
});

Deno.test("an oversized frame closes only that session with 1009", async () => {
  await withHub(async ({ base, hub }) => {
    const a = await hub.store.addClient(), b = await hub.store.addClient();
    const big = await TestAgent.connect(base, a.id, a.secret);
    const calm = await TestAgent.connect(base, b.id, b.secret);
    try {
      big.send({ type: "olm/ping", data: { pad: "x".repeat(5000) } });
      const closed = await big.closed;
      assertEquals(closed.code, 1009);
      calm.send({ type: "olm/ping", data: {} });
      await calm.next((f) => f.type === "pong");
    } finally {
      await big.close();
      await calm.close();
    }
  }, { maxFrameBytes: 4096 });
});

Deno.test("a gzip frame that inflates past the frame limit closes with 1009", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const agent = await TestAgent.connect(base, id, secret);
    try {
      const json = JSON.stringify({ type: "olm/ping", data: { pad: "x".repeat(50_000) } });
      const gzipped = await new Response(
        new Blob([json]).stream().pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer();
      assert(gzipped.byteLength < 4096, "small on the wire, large once inflated");
      agent.socket.send(gzipped);
      assertEquals((await agent.closed).code, 1009);
    } finally {
      await agent.close();
    }
  }, { maxFrameBytes: 4096 });
});

Deno.test("ports: allocate, list, release; another client's port cannot be released", async () => {
  await withHub(async ({ base, hub }) => {
    const a = await hub.store.addClient(), b = await hub.store.addClient();
    const agentA = await TestAgent.connect(base, a.id, a.secret);
    const agentB = await TestAgent.connect(base, b.id, b.secret);
    try {
      const range = hub.config.portRange;
      const first = await agentA.request("burrow/ports/allocate");
      assertEquals(first.type, "burrow/ports/allocated");
      const port = (first.data as { port: number }).port;
      assert(port >= range.first && port <= range.last);
      assert(hub.ingress.openPorts().includes(port), "the public listener is open");
      assertEquals((await agentA.request("burrow/ports/list")).data, {
        requestId: "r2",
        ports: [port],
      });
      assertEquals((await agentB.request("burrow/ports/list")).data, {
        requestId: "r1",
        ports: [],
      });
      const stolen = await agentB.request("burrow/ports/release", { port });
      assertEquals(stolen.type, "burrow/error");
      assertEquals((stolen.data as { code: string }).code, "not_allocated");
      const released = await agentA.request("burrow/ports/release", { port });
      assertEquals(released.type, "burrow/ports/released");
      assert(!hub.ingress.openPorts().includes(port));
      for (let i = 0; i < 3; i++) {
        assertEquals(
          (await agentB.request("burrow/ports/allocate")).type,
          "burrow/ports/allocated",
        );
      }
      const none = await agentA.request("burrow/ports/allocate");
      assertEquals((none.data as { code: string }).code, "no_ports");
    } finally {
      await agentA.close();
      await agentB.close();
    }
  });
});

Deno.test("rules sync is all or nothing: a domain or port of another client is refused clearly", async () => {
  await withHub(async ({ base, hub }) => {
    const a = await hub.store.addClient(), b = await hub.store.addClient();
    const agentA = await TestAgent.connect(base, a.id, a.secret);
    const agentB = await TestAgent.connect(base, b.id, b.secret);
    try {
      const port = ((await agentA.request("burrow/ports/allocate")).data as { port: number }).port;
      const applied = await agentA.request("burrow/rules/sync", {
        revision: 3,
        https: [{ domain: "App.Example.com", destination: "127.0.0.1", port: 8080 }],
        ports: [{
          port,
          destination: "127.0.0.1",
          dstPort: 22,
          firewall: [{ sequence: 1, action: "allow", network: "10.0.0.0/8" }],
        }],
        portmaps: [],
      });
      assertEquals(applied.type, "burrow/rules/applied");
      assertEquals((applied.data as { revision: number }).revision, 3);
      assertEquals(hub.routes.domains.get("app.example.com")?.clientId, a.id);
      assertEquals(hub.routes.ports.get(port)?.clientId, a.id);

      const taken = await agentB.request("burrow/rules/sync", {
        revision: 1,
        https: [{ domain: "b.example.com", destination: "127.0.0.1", port: 8080 }, {
          domain: "app.example.com",
          destination: "127.0.0.1",
          port: 8080,
        }],
        ports: [],
        portmaps: [],
      });
      assertEquals(taken.type, "burrow/error");
      assertEquals((taken.data as { code: string }).code, "domain_taken");
      assertStringIncludes((taken.data as { message: string }).message, "app.example.com");
      assert(!hub.routes.domains.has("b.example.com"), "nothing of the refused set applied");

      const foreignPort = await agentB.request("burrow/rules/sync", {
        https: [],
        ports: [{ port }],
        portmaps: [],
      });
      assertEquals((foreignPort.data as { code: string }).code, "port_not_allocated");

      for (
        const body of [
          { https: [{ domain: "bad domain", destination: "127.0.0.1", port: 8080 }] },
          {
            https: [{
              domain: "x.example.com",
              destination: "127.0.0.1",
              port: 8080,
              firewall: [{ action: "allow", network: "nope" }],
            }],
          },
          {
            https: [{ domain: "x.example.com", destination: "127.0.0.1", port: 8080 }, {
              domain: "X.example.com",
              destination: "127.0.0.1",
              port: 8080,
            }],
          },
          { ports: "all" },
        ]
      ) {
        const refused = await agentB.request("burrow/rules/sync", body);
        assertEquals(refused.type, "burrow/error", JSON.stringify(body));
      }
      assertEquals(hub.store.domainsOf(b.id), []);

      // Certificates and keys stay with the agent: the hub keeps domain and firewall only.
      const withKey = await agentB.request("burrow/rules/sync", {
        https: [{
          domain: "k.example.com",
          webRoot: "/srv",
          privateKey: "PRIVATE-KEY-MATERIAL",
          ca: "CHAIN",
        }],
      });
      assertEquals(withKey.type, "burrow/rules/applied");
      const stored = hub.store.rulesOf(b.id)!.body;
      assert(!stored.includes("PRIVATE-KEY-MATERIAL") && !stored.includes("CHAIN"), stored);
    } finally {
      await agentA.close();
      await agentB.close();
    }
  });
});

Deno.test("client remove in another process ends the session with olm/terminate and frees the port", async () => {
  await withHub(async ({ base, hub, dir }) => {
    const a = await hub.store.addClient(), b = await hub.store.addClient();
    const agentA = await TestAgent.connect(base, a.id, a.secret);
    const agentB = await TestAgent.connect(base, b.id, b.secret);
    try {
      const { publicKey } = await agentA.register();
      const port = ((await agentA.request("burrow/ports/allocate")).data as { port: number }).port;
      await agentA.request("burrow/rules/sync", {
        https: [{ domain: "gone.example.com", destination: "127.0.0.1", port: 8080 }],
        ports: [],
        portmaps: [],
      });

      const other = HubStore.open(dir);
      other.removeClient(a.id);
      other.close();

      const terminate = await agentA.next((f) => f.type === "olm/terminate");
      assertEquals((terminate.data as { code: string }).code, "client_removed");
      await agentA.closed;
      assert(!hub.fakeDevice.peerMap.has(publicKey), "the peer is gone");
      assert(!hub.ingress.openPorts().includes(port), "the listener is closed");
      assert(!hub.routes.domains.has("gone.example.com"));
      assertEquals((await login(base, { olmId: a.id, secret: a.secret })).status, 401);

      const again = await agentB.request("burrow/ports/allocate");
      assertEquals(
        (again.data as { port: number }).port,
        port,
        "the freed port goes to another client",
      );
      const claim = await agentB.request("burrow/rules/sync", {
        https: [{ domain: "gone.example.com", destination: "127.0.0.1", port: 8080 }],
      });
      assertEquals(claim.type, "burrow/rules/applied");
    } finally {
      await agentA.close();
      await agentB.close();
    }
  });
});

Deno.test("a gzip-compressed binary frame is read like a text frame; a bad one gets an error frame", async () => {
  await withHub(async ({ base, hub }) => {
    const { id, secret } = await hub.store.addClient();
    const agent = await TestAgent.connect(base, id, secret);
    try {
      const json = new TextEncoder().encode(JSON.stringify({ type: "olm/ping", data: {} }));
      const gzipped = await new Response(
        new Blob([json]).stream().pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer();
      agent.socket.send(gzipped);
      await agent.next((f) => f.type === "pong");
      agent.socket.send(new Uint8Array([1, 2, 3, 4]));
      const error = await agent.next((f) => f.type === "error");
      assertStringIncludes((error.data as { message: string }).message, "gzip");
    } finally {
      await agent.close();
    }
  });
});

Deno.test("with a certificate the control endpoint speaks HTTPS only, verifiable against it", async () => {
  const { cert, key } = await makeSelfSignedCertificate(["localhost"]);
  await withHub(async ({ hub }) => {
    const { id, secret } = await hub.store.addClient();
    const dir = await Deno.makeTempDir({ prefix: "bhb-tls-" });
    try {
      await Deno.writeTextFile(`${dir}/ca.pem`, cert);
      const result = await run([
        "curl",
        "-sS",
        "--cacert",
        `${dir}/ca.pem`,
        "-H",
        "content-type: application/json",
        "-H",
        "X-CSRF-Token: x-csrf-protection",
        "--data",
        JSON.stringify({ olmId: id, secret }),
        `https://localhost:${hub.controlPort}/api/v1/auth/olm/get-token`,
      ]);
      assertEquals(JSON.parse(result.stdout).status, 200, "login over verified TLS");
      const plain = await run([
        "curl",
        "-sS",
        "--max-time",
        "3",
        `http://127.0.0.1:${hub.controlPort}/`,
      ], {
        check: false,
      });
      assert(plain.code !== 0 || !plain.stdout.includes("not found"), "plain HTTP is not served");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }, { tls: { cert, key } });
});
