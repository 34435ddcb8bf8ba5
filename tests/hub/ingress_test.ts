// Public ingress over real sockets on loopback: allocated TCP ports with PROXY v2, Host and SNI
// routing between two agents, firewalls from two client addresses, refusals and offline agents.
// The tunnel is faked: dials to agent tunnel addresses land on loopback servers.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { type DialMap, startTestHub, TestAgent } from "./_hub_support.ts";
import { freePortRange } from "../_support/ports.ts";
import {
  type AgentServer,
  startEchoServer,
  startHttpServer,
  startTlsSite,
} from "./_agent_servers.ts";
import { run } from "../_support/netns.ts";
import { makeSelfSignedCertificate } from "../_support/certificates.ts";
import { curlAnswer } from "../_support/curl.ts";
import net from "node:net";

const A_IP = "100.89.128.2", B_IP = "100.89.128.3";

async function curl(args: string[]) {
  const result = await run(["curl", "-sS", "--max-time", "5", ...args], { check: false });
  return result;
}

/** The HTTP status of a curl request; throws when no HTTP answer came. */
async function httpStatus(args: string[]): Promise<number> {
  return (await curlAnswer(null, ["--max-time", "5", "-o", "/dev/null", ...args])).status;
}

/** Connects from `localAddress`, sends `payload`, returns everything read until EOF. */
function tcpExchange(port: number, localAddress: string, payload: string): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const socket = net.createConnection({ host: "127.0.0.1", port, localAddress }, () => {
      socket.write(payload);
      socket.end();
    });
    socket.on("data", (chunk: Uint8Array) => received += new TextDecoder().decode(chunk));
    socket.on("error", () => {});
    socket.on("close", () => resolve(received));
  });
}

Deno.test("ingress routes TCP ports, Host and SNI to the owning agent behind PROXY v2 and enforces firewalls", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-ingress-" });
  const { cert, key } = await makeSelfSignedCertificate(["a.example.com", "b.example.com"]);
  const servers: AgentServer[] = [
    startEchoServer(),
    startHttpServer("A"),
    startHttpServer("B"),
    startTlsSite("A", cert, key),
    startTlsSite("B", cert, key),
  ];
  const [echo, httpA, httpB, tlsA, tlsB] = servers;
  const dialMap: DialMap = new Map([
    [`${A_IP}:80`, httpA.port],
    [`${B_IP}:80`, httpB.port],
    [`${A_IP}:443`, tlsA.port],
    [`${B_IP}:443`, tlsB.port],
  ]);
  const hub = await startTestHub(dir, dialMap, { portRange: freePortRange(2) });
  const agents: TestAgent[] = [];
  try {
    const base = `http://127.0.0.1:${hub.controlPort}`;
    for (const name of ["a", "b"]) {
      const { id, secret } = await hub.store.addClient(name);
      const agent = await TestAgent.connect(base, id, secret);
      agents.push(agent);
      await agent.register();
    }
    const [agentA, agentB] = agents;
    const port = ((await agentA.request("burrow/ports/allocate")).data as { port: number }).port;
    dialMap.set(`${A_IP}:${port}`, echo.port);
    assertEquals(
      (await agentA.request("burrow/rules/sync", {
        https: [{ domain: "a.example.com", destination: "127.0.0.1", port: 8080 }],
        ports: [{ port, firewall: [{ action: "drop", network: "127.0.0.2/32" }] }],
      })).type,
      "burrow/rules/applied",
    );
    assertEquals(
      (await agentB.request("burrow/rules/sync", {
        https: [{
          domain: "b.example.com",
          destination: "127.0.0.1",
          port: 8080,
          firewall: [{ action: "allow", network: "127.0.0.2/32" }],
        }],
      })).type,
      "burrow/rules/applied",
    );

    // TCP: the agent learns the client's real address; the drop rule blocks only 127.0.0.2.
    const echoed = await tcpExchange(port, "127.0.0.1", "hello through the hub");
    assertEquals(echoed.split("\n")[1], "hello through the hub");
    assertStringIncludes(echoed, "src=127.0.0.1:");
    assertEquals(await tcpExchange(port, "127.0.0.2", "blocked"), "", "dropped by firewall");

    // HTTP by Host: each domain to its agent; the allow rule admits only 127.0.0.2.
    const http = `http://127.0.0.1:${hub.httpPort}/`;
    const a = await curl(["-H", "Host: a.example.com", http]);
    assertEquals(a.stdout, "agent=A host=a.example.com src=127.0.0.1\n");
    const a2 = await curl(["--interface", "127.0.0.2", "-H", "Host: A.Example.com:80", http]);
    assertEquals(a2.stdout, "agent=A host=A.Example.com:80 src=127.0.0.2\n");
    const bAllowed = await curl(["--interface", "127.0.0.2", "-H", "Host: b.example.com", http]);
    assertEquals(bAllowed.stdout, "agent=B host=b.example.com src=127.0.0.2\n");
    const bDenied = await httpStatus([
      "-H",
      "Host: b.example.com",
      http,
    ]);
    assertEquals(bDenied, 403);
    // An ACME HTTP-01 validation passes the firewall (the agent answers only the challenge).
    const challenge = await curl([
      "-H",
      "Host: b.example.com",
      `${http}.well-known/acme-challenge/token123`,
    ]);
    assertEquals(challenge.stdout, "agent=B host=b.example.com src=127.0.0.1\n");
    const unknown = await httpStatus([
      "-H",
      "Host: c.example.com",
      http,
    ]);
    assertEquals(unknown, 404);

    // TLS by SNI, never decrypted by the hub.
    const https = hub.httpsPort;
    const tlsTo = (name: string, source = "127.0.0.1") =>
      curl([
        "-k",
        "--interface",
        source,
        "--resolve",
        `${name}:${https}:127.0.0.1`,
        `https://${name}:${https}/`,
      ]);
    const tls = await tlsTo("a.example.com");
    assertEquals(tls.stdout, "agent=A tls src=127.0.0.1\n");
    const tlsB = await tlsTo("b.example.com", "127.0.0.2");
    assertEquals(tlsB.stdout, "agent=B tls src=127.0.0.2\n");
    const tlsDenied = await tlsTo("b.example.com");
    assert(tlsDenied.code !== 0, "firewall refuses the TLS client");
    const tlsUnknown = await tlsTo("c.example.com");
    assert(tlsUnknown.code !== 0, "an unknown server name gets an alert");
    assertStringIncludes(tlsUnknown.stderr.toLowerCase(), "unrecognized name");

    // An offline agent: 502 within a second, not a hang.
    dialMap.set(`${A_IP}:80`, "hang");
    const started = Date.now();
    const offline = await httpStatus([
      "-H",
      "Host: a.example.com",
      http,
    ]);
    const elapsed = Date.now() - started;
    assertEquals(offline, 502);
    assert(elapsed < 1500, `answered after ${elapsed} ms`);
  } finally {
    for (const agent of agents) await agent.close();
    await hub.close();
    for (const server of servers) await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("garbage on the HTTP and TLS ports is refused and the hub keeps serving", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-ingress-" });
  const hub = await startTestHub(dir);
  try {
    const exchange = async (port: number, payload: Uint8Array) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(payload);
      const chunks: number[] = [];
      const buffer = new Uint8Array(1024);
      while (true) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        chunks.push(...buffer.subarray(0, n));
      }
      conn.close();
      return new Uint8Array(chunks);
    };
    const garbage = new TextEncoder().encode("\x00\x01\x02garbage\r\n\r\n");
    const httpAnswer = new TextDecoder().decode(await exchange(hub.httpPort, garbage));
    assert(httpAnswer.startsWith("HTTP/1.1 400 "), httpAnswer);
    const noHost = new TextDecoder().decode(
      await exchange(hub.httpPort, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")),
    );
    assert(noHost.startsWith("HTTP/1.1 400 "), noHost);
    // curl sends no SNI to an IP address: refused with an alert, not a hang.
    const noSni = await curl(["-k", `https://127.0.0.1:${hub.httpsPort}/`]);
    assert(noSni.code !== 0);
    assertStringIncludes(noSni.stderr.toLowerCase(), "unrecognized name");
    const tlsAnswer = await exchange(hub.httpsPort, garbage);
    assertEquals([...tlsAnswer], [21, 3, 1, 0, 2, 2, 112]);
    const huge = new TextDecoder().decode(
      await exchange(
        hub.httpPort,
        new TextEncoder().encode("GET / HTTP/1.1\r\nX: " + "a".repeat(20000)),
      ),
    );
    assert(huge.startsWith("HTTP/1.1 431 "), huge);
    const after = await httpStatus([
      "-H",
      "Host: x.example.com",
      `http://127.0.0.1:${hub.httpPort}/`,
    ]);
    assertEquals(after, 404, "still serving");
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ingress listens dual stack: IPv4 clients reach the agent as IPv4, IPv6 clients as IPv6", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-ingress-" });
  const site = startHttpServer("A");
  const hub = await startTestHub(dir, new Map([[`${A_IP}:80`, site.port]]), {
    ingressHost: undefined,
  });
  let agent: TestAgent | null = null;
  try {
    const { id, secret } = await hub.store.addClient();
    agent = await TestAgent.connect(`http://127.0.0.1:${hub.controlPort}`, id, secret);
    await agent.register();
    await agent.request("burrow/rules/sync", {
      https: [{
        domain: "a.example.com",
        destination: "127.0.0.1",
        port: 8080,
        firewall: [{ action: "drop", network: "127.0.0.3/32" }],
      }],
    });
    const v4 = await curl(["-H", "Host: a.example.com", `http://127.0.0.1:${hub.httpPort}/`]);
    assertEquals(v4.stdout, "agent=A host=a.example.com src=127.0.0.1\n");
    const dropped = await httpStatus([
      "--interface",
      "127.0.0.3",
      "-H",
      "Host: a.example.com",
      `http://127.0.0.1:${hub.httpPort}/`,
    ]);
    assertEquals(
      dropped,
      403,
      "IPv4 firewall rules match IPv4 clients on the dual-stack socket",
    );
    const v6 = await curl(["-g", "-H", "Host: a.example.com", `http://[::1]:${hub.httpPort}/`]);
    if (v6.code === 7 && /Couldn't connect|Failed to connect/.test(v6.stderr)) {
      console.log("IPv6 loopback unavailable here; IPv4 half checked");
    } else {
      assertEquals(v6.stdout, "agent=A host=a.example.com src=::1\n");
    }
  } finally {
    await agent?.close();
    await hub.close();
    await site.close();
    await Deno.remove(dir, { recursive: true });
  }
});
